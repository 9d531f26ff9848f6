package dev.keyflow.peer;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Set;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/**
 * One window's aggregate, as keyflow's WindowResult: count; valueCount, sum, min, max over the
 * finite numeric values; the exact set of distinct users (avg = sum / valueCount on read).
 */
final class WindowAgg {
  long count;
  long valueCount;
  double sum;
  double min = Double.POSITIVE_INFINITY;
  double max = Double.NEGATIVE_INFINITY;
  final Set<String> users = new HashSet<>();

  WindowAgg add(SensorEvent e) {
    count++;
    double v = e.value();
    if (!Double.isNaN(v)) {
      valueCount++;
      sum += v;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    if (e.userId() != null) users.add(e.userId());
    return this;
  }

  /** Session merge: a new aggregate holding both. */
  static WindowAgg merge(WindowAgg a, WindowAgg b) {
    WindowAgg m = new WindowAgg();
    m.count = a.count + b.count;
    m.valueCount = a.valueCount + b.valueCount;
    m.sum = a.sum + b.sum;
    m.min = Math.min(a.min, b.min);
    m.max = Math.max(a.max, b.max);
    m.users.addAll(a.users);
    m.users.addAll(b.users);
    return m;
  }

  /** Binary form in the RocksDB stores and changelogs: 5 numbers, then the users (length-prefixed UTF-8). */
  static final Serde<WindowAgg> SERDE = Serdes.serdeFrom(
      (Serializer<WindowAgg>) (topic, a) -> {
        if (a == null) return null;
        byte[][] us = new byte[a.users.size()][];
        int size = 5 * 8 + 4;
        int i = 0;
        for (String u : a.users) {
          us[i] = u.getBytes(StandardCharsets.UTF_8);
          size += 4 + us[i].length;
          i++;
        }
        ByteBuffer b = ByteBuffer.allocate(size);
        b.putLong(a.count).putLong(a.valueCount).putDouble(a.sum).putDouble(a.min).putDouble(a.max).putInt(us.length);
        for (byte[] u : us) b.putInt(u.length).put(u);
        return b.array();
      },
      (Deserializer<WindowAgg>) (topic, bytes) -> {
        if (bytes == null) return null;
        ByteBuffer b = ByteBuffer.wrap(bytes);
        WindowAgg a = new WindowAgg();
        a.count = b.getLong();
        a.valueCount = b.getLong();
        a.sum = b.getDouble();
        a.min = b.getDouble();
        a.max = b.getDouble();
        int n = b.getInt();
        for (int i = 0; i < n; i++) {
          byte[] u = new byte[b.getInt()];
          b.get(u);
          a.users.add(new String(u, StandardCharsets.UTF_8));
        }
        return a;
      });
}
