package dev.keyflow.peer;

/**
 * The Kafka Streams peer of keyflow's Kafka processing bench.
 *
 * <pre>
 *   load BOOTSTRAP TOPIC N PARTITIONS           write N iot.sensor envelopes (key = deviceId)
 *   run  BOOTSTRAP TOPIC N GUARANTEE APP_ID DIR  aggregate keyflow's five default windows until N records
 * </pre>
 *
 * Each command prints one JSON line on stdout; logs go to stderr. Exit code 1 on any failure.
 */
public final class Main {
  private Main() {}

  public static void main(String[] args) throws Exception {
    String cmd = args.length > 0 ? args[0] : "";
    try {
      switch (cmd) {
        case "load" -> {
          need(args, 5);
          Loader.load(args[1], args[2], Long.parseLong(args[3]), Integer.parseInt(args[4]));
        }
        case "run" -> {
          need(args, 7);
          StreamsRun.run(args[1], args[2], Long.parseLong(args[3]), args[4], args[5], args[6]);
        }
        default -> throw new IllegalArgumentException(
            "usage: load BOOTSTRAP TOPIC N PARTITIONS | run BOOTSTRAP TOPIC N GUARANTEE APP_ID STATE_DIR");
      }
    } catch (Exception e) {
      System.err.println("kstreams-peer " + cmd + " failed: " + e);
      e.printStackTrace(System.err);
      System.exit(1);
    }
    System.exit(0);
  }

  private static void need(String[] args, int n) {
    if (args.length < n) throw new IllegalArgumentException(args[0] + " needs " + (n - 1) + " arguments, got " + (args.length - 1));
  }
}
