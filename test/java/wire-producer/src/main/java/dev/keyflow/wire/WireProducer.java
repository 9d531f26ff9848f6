package dev.keyflow.wire;

import com.google.protobuf.DescriptorProtos.DescriptorProto;
import com.google.protobuf.DescriptorProtos.FieldDescriptorProto;
import com.google.protobuf.DescriptorProtos.FileDescriptorProto;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FileDescriptor;
import com.google.protobuf.DynamicMessage;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Writes events into a keyflow topic the way Confluent's serializers do.
 *
 * <pre>
 * WireProducer --registry URL [--token T] --brokers H:P --topic T --subject S --format avro|protobuf
 *              --events key:value:epochMs,key:value:epochMs,...
 * </pre>
 *
 * Avro: record shop.Order {orderId: string, amount: double, ts: long}; Protobuf: message
 * plant.Reading {string sensor = 1; double celsius = 2; int64 at = 3;}. Each event's record key
 * is its key (Kafka's default partitioner: murmur2, as keyflow's). Prints the schema id, then one
 * line per record: "key partition offset".
 */
public final class WireProducer {
  static final String AVRO_SCHEMA =
      "{\"type\":\"record\",\"name\":\"Order\",\"namespace\":\"shop\",\"fields\":["
          + "{\"name\":\"orderId\",\"type\":\"string\"},{\"name\":\"amount\",\"type\":\"double\"},{\"name\":\"ts\",\"type\":\"long\"}]}";

  static final String PROTO_SCHEMA =
      "syntax = \"proto3\";\npackage plant;\nmessage Reading {\n  string sensor = 1;\n  double celsius = 2;\n  int64 at = 3;\n}\n";

  public static void main(String[] argv) throws Exception {
    Map<String, String> a = new HashMap<>();
    for (int i = 0; i + 1 < argv.length; i += 2) a.put(argv[i].replaceFirst("^--", ""), argv[i + 1]);
    boolean protobuf = "protobuf".equals(a.get("format"));
    int id = register(a.get("registry"), a.get("token"), a.get("subject"), protobuf ? PROTO_SCHEMA : AVRO_SCHEMA, protobuf);
    System.out.println("schema " + id);

    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, a.get("brokers"));
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    Schema avro = new Schema.Parser().parse(AVRO_SCHEMA);
    Descriptor reading = protobuf ? readingDescriptor() : null;
    try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(p)) {
      for (String e : a.get("events").split(",")) {
        String[] f = e.split(":");
        String key = f[0];
        double value = Double.parseDouble(f[1]);
        long ts = Long.parseLong(f[2]);
        byte[] body = protobuf ? encodeProtobuf(reading, key, value, ts) : encodeAvro(avro, key, value, ts);
        ByteBuffer wire = ByteBuffer.allocate(5 + (protobuf ? 1 : 0) + body.length);
        wire.put((byte) 0).putInt(id); // magic byte, schema id (big-endian)
        if (protobuf) wire.put((byte) 0); // message indexes: [0], the first message
        wire.put(body);
        RecordMetadata m = producer.send(new ProducerRecord<>(a.get("topic"), key, wire.array())).get();
        System.out.println(key + " " + m.partition() + " " + m.offset());
      }
    }
  }

  static byte[] encodeAvro(Schema schema, String key, double value, long ts) throws Exception {
    GenericRecord r = new GenericData.Record(schema);
    r.put("orderId", key);
    r.put("amount", value);
    r.put("ts", ts);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    BinaryEncoder enc = EncoderFactory.get().binaryEncoder(out, null);
    new GenericDatumWriter<GenericRecord>(schema).write(r, enc);
    enc.flush();
    return out.toByteArray();
  }

  /** plant.Reading built as a descriptor (no protoc): the same message the .proto text declares. */
  static Descriptor readingDescriptor() throws Exception {
    DescriptorProto msg =
        DescriptorProto.newBuilder()
            .setName("Reading")
            .addField(field("sensor", 1, FieldDescriptorProto.Type.TYPE_STRING))
            .addField(field("celsius", 2, FieldDescriptorProto.Type.TYPE_DOUBLE))
            .addField(field("at", 3, FieldDescriptorProto.Type.TYPE_INT64))
            .build();
    FileDescriptorProto file = FileDescriptorProto.newBuilder().setName("reading.proto").setPackage("plant").setSyntax("proto3").addMessageType(msg).build();
    return FileDescriptor.buildFrom(file, new FileDescriptor[0]).findMessageTypeByName("Reading");
  }

  static FieldDescriptorProto field(String name, int number, FieldDescriptorProto.Type type) {
    return FieldDescriptorProto.newBuilder().setName(name).setNumber(number).setType(type).setLabel(FieldDescriptorProto.Label.LABEL_OPTIONAL).build();
  }

  static byte[] encodeProtobuf(Descriptor d, String key, double value, long ts) {
    return DynamicMessage.newBuilder(d)
        .setField(d.findFieldByName("sensor"), key)
        .setField(d.findFieldByName("celsius"), value)
        .setField(d.findFieldByName("at"), ts)
        .build()
        .toByteArray();
  }

  /** POST /subjects/{subject}/versions, as the serializers' auto-register does; returns the id. HTTP/1.1: the JDK client's h2c upgrade would reach keyflow's WebSocket upgrade handler. */
  static int register(String registry, String token, String subject, String schema, boolean protobuf) throws Exception {
    String body = "{\"schema\":" + jsonString(schema) + (protobuf ? ",\"schemaType\":\"PROTOBUF\"" : "") + "}";
    HttpRequest.Builder req =
        HttpRequest.newBuilder(URI.create(registry + "/subjects/" + subject + "/versions"))
            .header("content-type", "application/vnd.schemaregistry.v1+json")
            .POST(HttpRequest.BodyPublishers.ofString(body));
    if (token != null) req.header("authorization", "Bearer " + token);
    HttpResponse<String> res = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build().send(req.build(), HttpResponse.BodyHandlers.ofString());
    Matcher m = Pattern.compile("\"id\"\\s*:\\s*(\\d+)").matcher(res.body());
    if (res.statusCode() != 200 || !m.find()) throw new IllegalStateException("registering failed: HTTP " + res.statusCode() + " " + res.body());
    return Integer.parseInt(m.group(1));
  }

  static String jsonString(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        default -> b.append(c);
      }
    }
    return b.append('"').toString();
  }
}
