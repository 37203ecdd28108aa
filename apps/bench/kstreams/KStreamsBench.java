/*
 * Kafka Streams side of `pnpm bench --only kstreams`: the same workloads as
 * stream-app's, on the same broker and the same preloaded input, so the two
 * can be compared in one run.
 *
 *   java -cp <classes>:<jars>/* KStreamsBench <mode> <bootstrap> <input> <output> <n> <appId>
 *
 * mode: passthrough (topic -> topic, bytes as they are), wordcount (counts per
 * key into RocksDB with the default record cache), wordcount-memory (an
 * in-memory store, the default cache), wordcount-nocache (in-memory, cache
 * off: a changelog record per update). One stream thread, commit every second
 * (stream-app's word count commits every second too), at least once.
 *
 * The rate is n records over the time from start() to the n-th record
 * processed (start-up included, as stream-app's word count measures it; for
 * passthrough the caller measures the output topic instead). Prints one line:
 * rate=<msg/s> cpuUs=<process CPU µs per record> peakRssMb=<VmHWM>.
 */
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;

public final class KStreamsBench {
  public static void main(String[] args) throws Exception {
    if (args.length != 6) {
      System.err.println("usage: KStreamsBench <mode> <bootstrap> <input> <output> <n> <appId>");
      System.exit(2);
    }
    String mode = args[0];
    String bootstrap = args[1];
    String input = args[2];
    String output = args[3];
    long n = Long.parseLong(args[4]);
    String appId = args[5];

    Path stateDir = Files.createTempDirectory("kstreams-bench-");
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
    p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 1000);
    p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
    p.put(StreamsConfig.consumerPrefix("auto.offset.reset"), "earliest");
    if (mode.equals("wordcount-nocache")) p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);

    AtomicLong seen = new AtomicLong();
    CountDownLatch done = new CountDownLatch(1);
    StreamsBuilder b = new StreamsBuilder();
    KStream<Bytes, Bytes> in = b.stream(input, Consumed.with(Serdes.Bytes(), Serdes.Bytes()));
    KStream<Bytes, Bytes> counted =
        in.peek(
            (k, v) -> {
              if (seen.incrementAndGet() == n) done.countDown();
            });
    switch (mode) {
      case "passthrough" -> counted.to(output, Produced.with(Serdes.Bytes(), Serdes.Bytes()));
      case "wordcount" -> counted.groupByKey().count(Materialized.as("counts"));
      case "wordcount-memory", "wordcount-nocache" ->
          counted
              .groupByKey()
              .count(
                  Materialized.<Bytes, Long>as(Stores.inMemoryKeyValueStore("counts"))
                      .withKeySerde(Serdes.Bytes())
                      .withValueSerde(Serdes.Long()));
      default -> {
        System.err.println("unknown mode " + mode);
        System.exit(2);
      }
    }

    KafkaStreams streams = new KafkaStreams(b.build(), p);
    com.sun.management.OperatingSystemMXBean os =
        (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
    long cpu0 = os.getProcessCpuTime();
    long t0 = System.nanoTime();
    streams.start();
    if (!done.await(10, TimeUnit.MINUTES)) {
      System.err.println("timed out: " + seen.get() + " of " + n + " records");
      System.exit(1);
    }
    long t1 = System.nanoTime();
    long cpu1 = os.getProcessCpuTime();
    double rate = n / ((t1 - t0) / 1e9);
    double cpuUs = (cpu1 - cpu0) / 1e3 / n;
    System.out.printf("rate=%.0f cpuUs=%.2f peakRssMb=%d%n", rate, cpuUs, peakRssMb());
    System.out.flush();
    streams.close();
    streams.cleanUp();
  }

  private static long peakRssMb() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status")))
        if (line.startsWith("VmHWM:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024;
    } catch (Exception e) {
      // not Linux: no figure
    }
    return 0;
  }
}
