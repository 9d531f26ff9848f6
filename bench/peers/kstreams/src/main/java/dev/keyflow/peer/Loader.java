package dev.keyflow.peer;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import java.util.Properties;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Writes N iot.sensor events in keyflow's JSON envelope (what the GraphQL gateway writes:
 * eventId, ISO-8601 UTC timestamp, eventType, userId, deviceId, payload, metadata), key = deviceId,
 * header content-type: application/json, partitioned by Kafka's default (murmur2) partitioner —
 * the same partition keyflow's gateway picks for the key.
 *
 * <p>10,000 devices ({@code sensor-0 … sensor-9999}); device d belongs to user {@code user-(d % 5000)};
 * 1 event in 10 has no userId. Event time runs over 2 hours from 2026-01-15T10:00Z; 30 % of events
 * are up to 2 s late. Each device's temperature is a bounded random walk. Seeded: the same N gives
 * the same records.
 */
final class Loader {
  static final int DEVICES = 10_000;
  static final int USERS = 5_000;
  static final long T0 = Instant.parse("2026-01-15T10:00:00.000Z").toEpochMilli();
  static final long SPAN_MS = 2 * 3_600_000L;

  private Loader() {}

  static void load(String bootstrap, String topic, long n, int partitions) throws Exception {
    Properties a = new Properties();
    a.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    try (Admin admin = Admin.create(a)) {
      admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get();
    } catch (ExecutionException e) {
      if (!(e.getCause() instanceof TopicExistsException)) throw e;
    }
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.ACKS_CONFIG, "1");
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, false);
    p.put(ProducerConfig.LINGER_MS_CONFIG, 10);
    p.put(ProducerConfig.BATCH_SIZE_CONFIG, 256 * 1024);
    p.put(ProducerConfig.BUFFER_MEMORY_CONFIG, 128L * 1024 * 1024);

    SplittableRandom rnd = new SplittableRandom(42);
    double[] base = new double[DEVICES];
    double[] drift = new double[DEVICES];
    double[] battery = new double[DEVICES];
    for (int d = 0; d < DEVICES; d++) {
      base[d] = 18 + rnd.nextDouble() * 8;
      battery[d] = 60 + rnd.nextDouble() * 40;
    }
    String runTag = Long.toString(System.currentTimeMillis(), 36);
    byte[] contentType = "application/json".getBytes(StandardCharsets.US_ASCII);
    StringBuilder sb = new StringBuilder(320);
    final Exception[] sendError = {null};
    long t0 = System.nanoTime();
    try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer())) {
      for (long i = 0; i < n; i++) {
        int d = rnd.nextInt(DEVICES);
        drift[d] = Math.max(-5, Math.min(5, drift[d] + gaussian(rnd) * 0.05));
        battery[d] = Math.max(1, battery[d] - 0.01 - rnd.nextDouble() * 0.01);
        double value = Math.round((base[d] + drift[d] + gaussian(rnd) * 0.2) * 100) / 100.0;
        long ts = T0 + (SPAN_MS * i) / n;
        if (rnd.nextDouble() < 0.3) ts -= rnd.nextInt(2000) + 1;
        String device = "sensor-" + d;
        sb.setLength(0);
        sb.append("{\"eventId\":\"ksp-").append(runTag).append('-').append(i)
            .append("\",\"timestamp\":\"").append(Instant.ofEpochMilli(ts))
            .append("\",\"eventType\":\"iot.sensor\",\"userId\":");
        if (i % 10 == 0) sb.append("null");
        else sb.append("\"user-").append(d % USERS).append('"');
        sb.append(",\"deviceId\":\"").append(device)
            .append("\",\"payload\":{\"value\":").append(value)
            .append(",\"unit\":\"celsius\",\"battery\":").append(Math.round(battery[d] * 10) / 10.0)
            .append("},\"metadata\":{\"source\":\"kstreams-peer-load\",\"seq\":").append(i).append("}}");
        RecordHeaders headers = new RecordHeaders();
        headers.add("content-type", contentType);
        producer.send(new ProducerRecord<>(topic, null, device, sb.toString().getBytes(StandardCharsets.UTF_8), headers), (md, e) -> {
          if (e != null && sendError[0] == null) sendError[0] = e;
        });
      }
      producer.flush();
    }
    if (sendError[0] != null) throw sendError[0];
    double seconds = (System.nanoTime() - t0) / 1e9;
    System.out.printf("{\"system\":\"kstreams-loader\",\"topic\":\"%s\",\"records\":%d,\"seconds\":%.3f,\"eventsPerSec\":%.0f}%n",
        topic, n, seconds, n / seconds);
  }

  /** A standard normal sample (Box–Muller). */
  private static double gaussian(SplittableRandom rnd) {
    double u = 1 - rnd.nextDouble();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd.nextDouble());
  }
}
