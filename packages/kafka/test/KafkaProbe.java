// Test oracle run with the real Kafka Java client (`java -cp 'libs/*' KafkaProbe.java ...`):
//   partition <n,n,...> h:<hex-key>...  the partition the Java producer picks for each key
//   configs <bootstrap> <topic>...      the topic configs set on each topic (describeConfigs)
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.config.ConfigResource;

public class KafkaProbe {
  public static void main(String[] a) throws Exception {
    if (a[0].equals("partition")) {
      for (String n : a[1].split(",")) {
        for (int i = 2; i < a.length; i++) {
          byte[] key = HexFormat.of().parseHex(a[i].substring(2));
          System.out.println(n + "\t" + a[i].substring(2) + "\t" + BuiltInPartitioner.partitionForKey(key, Integer.parseInt(n)));
        }
      }
    } else if (a[0].equals("configs")) {
      Properties p = new Properties();
      p.put("bootstrap.servers", a[1]);
      try (Admin admin = Admin.create(p)) {
        List<ConfigResource> rs = new ArrayList<>();
        for (int i = 2; i < a.length; i++) rs.add(new ConfigResource(ConfigResource.Type.TOPIC, a[i]));
        var res = admin.describeConfigs(rs).all().get();
        for (var e : res.entrySet())
          for (ConfigEntry c : e.getValue().entries())
            if (c.source() == ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG)
              System.out.println(e.getKey().name() + "\t" + c.name() + "\t" + c.value());
      }
    }
  }
}
