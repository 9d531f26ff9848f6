package dev.keyflow.peer;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/**
 * What the windows need of one keyflow envelope: event time, userId (null when absent) and the
 * payload's numeric {@code value} (NaN when absent or not a number — keyflow's valueField of
 * iot.sensor). The deserializer reads the whole JSON document with Jackson's streaming parser (as
 * keyflow's processor parses every record) and rejects anything that is not an envelope with
 * eventId, timestamp, eventType and an object payload.
 */
record SensorEvent(String eventId, long timestamp, String userId, double value) {
  private static final JsonFactory JSON = new JsonFactory();

  static SensorEvent parse(byte[] bytes) {
    try (JsonParser p = JSON.createParser(bytes)) {
      if (p.nextToken() != JsonToken.START_OBJECT) throw invalid("not a JSON object");
      String eventId = null;
      String eventType = null;
      String ts = null;
      String user = null;
      double value = Double.NaN;
      boolean payload = false;
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String field = p.currentName();
        JsonToken t = p.nextToken();
        switch (field) {
          case "eventId" -> eventId = t == JsonToken.VALUE_STRING ? p.getText() : null;
          case "eventType" -> eventType = t == JsonToken.VALUE_STRING ? p.getText() : null;
          case "timestamp" -> ts = t == JsonToken.VALUE_STRING ? p.getText() : null;
          case "userId" -> {
            if (t == JsonToken.VALUE_STRING) user = p.getText();
            else if (t != JsonToken.VALUE_NULL) throw invalid("userId is not a string");
          }
          case "payload" -> {
            if (t != JsonToken.START_OBJECT) throw invalid("payload is not an object");
            payload = true;
            while (p.nextToken() == JsonToken.FIELD_NAME) {
              String name = p.currentName();
              JsonToken v = p.nextToken();
              if (name.equals("value") && (v == JsonToken.VALUE_NUMBER_INT || v == JsonToken.VALUE_NUMBER_FLOAT)) {
                double d = p.getDoubleValue();
                value = Double.isFinite(d) ? d : Double.NaN;
              } else {
                p.skipChildren();
              }
            }
          }
          default -> p.skipChildren();
        }
      }
      if (p.nextToken() != null) throw invalid("trailing data after the envelope");
      if (eventId == null || eventId.isEmpty() || eventType == null || ts == null || !payload) {
        throw invalid("not an event envelope (eventId, timestamp, eventType, payload)");
      }
      return new SensorEvent(eventId, Instant.parse(ts).toEpochMilli(), user, value);
    } catch (IOException | java.time.DateTimeException e) {
      throw new SerializationException("record value is not a keyflow event envelope: " + e.getMessage(), e);
    }
  }

  private static SerializationException invalid(String why) {
    return new SerializationException("record value is not a keyflow event envelope: " + why);
  }

  /**
   * The envelope's JSON wire form. Serializing writes the fields this record keeps (a topology
   * that repartitions would send that on; this one never does).
   */
  static final Serde<SensorEvent> SERDE = Serdes.serdeFrom(
      (Serializer<SensorEvent>) (topic, e) -> e == null ? null : e.toJson().getBytes(StandardCharsets.UTF_8),
      (Deserializer<SensorEvent>) (topic, bytes) -> bytes == null ? null : parse(bytes));

  String toJson() {
    StringBuilder sb = new StringBuilder(160);
    sb.append("{\"eventId\":\"").append(eventId).append("\",\"timestamp\":\"").append(Instant.ofEpochMilli(timestamp))
        .append("\",\"eventType\":\"iot.sensor\",\"userId\":");
    if (userId == null) sb.append("null");
    else sb.append('"').append(userId).append('"');
    sb.append(",\"payload\":{");
    if (!Double.isNaN(value)) sb.append("\"value\":").append(value);
    return sb.append("}}").toString();
  }
}
