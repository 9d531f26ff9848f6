package dev.keyflow.peer;

import java.time.Duration;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KGroupedStream;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.SessionWindows;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.processor.TimestampExtractor;
import org.apache.kafka.streams.state.SessionStore;
import org.apache.kafka.streams.state.WindowStore;

/**
 * keyflow's five default windows over the input topic in Kafka Streams: tumbling 1m/5m/15m,
 * hopping 5m every 1m (keyflow's "sliding-5m-1m"), session with a 30m gap; grace 10 s each; keyed
 * by the record key (deviceId, no repartition). Every window is a default (RocksDB, logged,
 * cached) window or session store named after keyflow's spec (changelog {@code <appId>-<name>-changelog}). Runs from the beginning of the topic under a fresh application
 * id until N records have been aggregated, then waits until the committed offsets cover all N.
 */
final class StreamsRun {
  static final Duration GRACE = Duration.ofSeconds(10);

  private StreamsRun() {}

  /** Event time = the envelope's timestamp. */
  public static final class EventTime implements TimestampExtractor {
    @Override
    public long extract(ConsumerRecord<Object, Object> record, long partitionTime) {
      return ((SensorEvent) record.value()).timestamp();
    }
  }

  static Topology topology(String topic, AtomicLong processed) {
    StreamsBuilder b = new StreamsBuilder();
    KStream<String, SensorEvent> events =
        b.stream(topic, Consumed.with(Serdes.String(), SensorEvent.SERDE).withTimestampExtractor(new EventTime()));
    KGroupedStream<String, SensorEvent> byDevice = events.groupByKey(Grouped.with(Serdes.String(), SensorEvent.SERDE));
    for (int minutes : new int[] {1, 5, 15}) {
      byDevice.windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMinutes(minutes), GRACE))
          .aggregate(WindowAgg::new, (k, e, agg) -> agg.add(e), store("tumbling-" + minutes + "m"));
    }
    byDevice.windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMinutes(5), GRACE).advanceBy(Duration.ofMinutes(1)))
        .aggregate(WindowAgg::new, (k, e, agg) -> agg.add(e), store("sliding-5m-1m"));
    byDevice.windowedBy(SessionWindows.ofInactivityGapAndGrace(Duration.ofMinutes(30), GRACE))
        .aggregate(WindowAgg::new, (k, e, agg) -> agg.add(e), (k, a, c) -> WindowAgg.merge(a, c),
            Materialized.<String, WindowAgg, SessionStore<Bytes, byte[]>>as("session-30m")
                .withKeySerde(Serdes.String()).withValueSerde(WindowAgg.SERDE));
    // added last: the source forwards each record to its children in order, so a record is
    // counted after all five windows have taken it
    events.foreach((k, e) -> processed.incrementAndGet());
    return b.build();
  }

  /** A default (RocksDB, logged, cached) window store named like keyflow's window spec. */
  private static Materialized<String, WindowAgg, WindowStore<Bytes, byte[]>> store(String name) {
    return Materialized.<String, WindowAgg, WindowStore<Bytes, byte[]>>as(name).withKeySerde(Serdes.String()).withValueSerde(WindowAgg.SERDE);
  }

  static void run(String bootstrap, String topic, long n, String guarantee, String appId, String stateDir) throws Exception {
    if (!guarantee.equals(StreamsConfig.AT_LEAST_ONCE) && !guarantee.equals(StreamsConfig.EXACTLY_ONCE_V2)) {
      throw new IllegalArgumentException("guarantee must be at_least_once or exactly_once_v2, got " + guarantee);
    }
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
    // keyflow's checkpoint interval (KEYFLOW_CHECKPOINT_INTERVAL_MS in the bench)
    p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, Long.getLong("commit.ms", 1000L));
    p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
    p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
    p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
    Long cacheBytes = Long.getLong("cache.bytes");
    if (cacheBytes != null) p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, cacheBytes);

    AtomicLong processed = new AtomicLong();
    AtomicReference<Throwable> failure = new AtomicReference<>();
    long start = System.nanoTime();
    long first = 0;
    long last;
    try (KafkaStreams streams = new KafkaStreams(topology(topic, processed), p)) {
      streams.setUncaughtExceptionHandler(e -> {
        failure.compareAndSet(null, e);
        return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
      });
      streams.start();
      long deadline = start + Duration.ofMinutes(Long.getLong("timeout.minutes", 30L)).toNanos();
      while (true) {
        long seen = processed.get();
        if (seen > 0 && first == 0) first = System.nanoTime();
        if (seen >= n) {
          last = System.nanoTime();
          break;
        }
        if (failure.get() != null) throw new IllegalStateException("stream thread failed after " + seen + " records", failure.get());
        if (System.nanoTime() > deadline) throw new IllegalStateException("only " + seen + " of " + n + " records within the timeout");
        Thread.sleep(5);
      }
      double committedSeconds = waitCommitted(bootstrap, appId, topic, n, first);
      long total = processed.get();
      // leave the group at once, so the bench can delete it (Kafka Streams stays in it by default)
      streams.close(new KafkaStreams.CloseOptions().leaveGroup(true).timeout(Duration.ofSeconds(60)));
      double seconds = (last - first) / 1e9;
      System.out.printf(
          "{\"system\":\"kstreams\",\"guarantee\":\"%s\",\"records\":%d,\"seconds\":%.3f,\"eventsPerSec\":%.0f,"
              + "\"startupSeconds\":%.3f,\"committedSeconds\":%s,\"processedAtClose\":%d}%n",
          guarantee, n, seconds, n / seconds, (first - start) / 1e9,
          Double.isNaN(committedSeconds) ? "null" : String.format("%.3f", committedSeconds), total);
    }
  }

  /** Seconds from the first record until the group's committed offsets on the topic sum to n (NaN after 60 s). */
  private static double waitCommitted(String bootstrap, String group, String topic, long n, long first) throws Exception {
    Properties a = new Properties();
    a.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    try (Admin admin = Admin.create(a)) {
      long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
      while (System.nanoTime() < deadline) {
        Map<TopicPartition, OffsetAndMetadata> offsets = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
        long sum = 0;
        for (Map.Entry<TopicPartition, OffsetAndMetadata> e : offsets.entrySet()) {
          if (e.getKey().topic().equals(topic) && e.getValue() != null) sum += e.getValue().offset();
        }
        if (sum >= n) return (System.nanoTime() - first) / 1e9;
        Thread.sleep(50);
      }
      return Double.NaN;
    }
  }
}
