#!/usr/bin/env bash
# Heap bound of an S3 download: a 4 GiB object downloaded from the embedded S3 server over
# 127.0.0.1 with S3Tier.fetch (what `thermocline s3 cp` does: parallel ranged GETs streamed into a
# file, verified chunk by chunk) in a JVM limited to -Xmx256m, and its peak heap use read from the
# GC log (-Xlog:gc: the heap occupancy before every collection) and from a sampler of the heap's
# used bytes every 20 ms. The server and the upload run in JVMs of their own, so only the
# download is measured. The file is checked afterwards: its CRC32C, computed apart, must equal the
# one the upload recorded.
#   SIZE_MIB=4096 PARALLEL=16 RANGE_MIB=16 HEAP_MIB=256 bench/s3-heap.sh
# Last line: RESULT s3-heap ratio=<peak heap / HEAP_MIB> ...
source "$(dirname "$0")/lib.sh"
SIZE_MIB=${SIZE_MIB:-4096}
PARALLEL=${PARALLEL:-16}
RANGE_MIB=${RANGE_MIB:-16}
HEAP_MIB=${HEAP_MIB:-256}

(cd "$REPO" && ./mvnw -B -ntp -q -pl tier-s3 install -DskipTests) >&2
JAVA_HOME=$(find_jdk25)
work="$BENCH_DIR/s3-heap"
rm -rf "$work"; mkdir -p "$work/s3" "$work/out"
(cd "$REPO" && ./mvnw -B -ntp -q -pl tier-s3 dependency:build-classpath -DincludeScope=runtime -Dmdep.outputFile="$work/cp.txt") >&2
CP="$REPO/tier-s3/target/classes:$(cat "$work/cp.txt")"

server_pid=""
cleanup() {
  local rc=$?
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

cat > "$work/S3HeapDriver.java" <<'EOF'
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.WriteRequest;
import io.thermocline.tier.s3.EmbeddedS3Server;
import io.thermocline.tier.s3.S3Tier;
import io.thermocline.tier.s3.S3TierConfig;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.CRC32C;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;

/** serve | upload | download | crc: the parts of bench/s3-heap.sh, each in its own JVM. */
public class S3HeapDriver {
    static final String ACCESS = "bench", SECRET = "bench-secret-key", BUCKET = "models";

    static S3Tier tier(String endpoint, int parallel) {
        return S3Tier.open(S3TierConfig.builder(BUCKET).endpoint(URI.create(endpoint)).trackUsage(false)
                .maxConcurrency(Math.max(parallel, 2) * 2)
                .credentials(StaticCredentialsProvider.create(AwsBasicCredentials.create(ACCESS, SECRET))).build());
    }

    public static void main(String[] a) throws Exception {
        switch (a[0]) {
            case "serve" -> {
                EmbeddedS3Server server = EmbeddedS3Server.start(Path.of(a[1]), Integer.parseInt(a[2]), ACCESS, SECRET);
                server.createBucket(BUCKET);
                System.out.println("READY " + server.endpoint());
                Thread.sleep(Long.MAX_VALUE);
            }
            case "upload" -> {
                long size = Long.parseLong(a[3]);
                try (S3Tier tier = tier(a[1], 8);
                     ObjectWriter w = tier.create(WriteRequest.of(ObjectKey.of(a[2]), size)).join()) {
                    SplittableRandom random = new SplittableRandom(42);
                    byte[] bytes = new byte[8 << 20];
                    for (long p = 0; p < size; p += bytes.length) {
                        int n = (int) Math.min(bytes.length, size - p);
                        random.nextBytes(bytes); // incompressible
                        w.write(p, ByteBuffer.wrap(bytes, 0, n)).join();
                    }
                    ObjectInfo info = w.commit().join();
                    System.out.printf("uploaded %s: %d bytes, crc32c %08x%n", a[2], info.sizeInBytes(), info.crc32c());
                }
            }
            case "download" -> {
                var memory = ManagementFactory.getMemoryMXBean();
                AtomicLong peak = new AtomicLong();
                Thread sampler = Thread.ofPlatform().daemon().start(() -> {
                    while (true) {
                        peak.accumulateAndGet(memory.getHeapMemoryUsage().getUsed(), Math::max);
                        try {
                            Thread.sleep(20);
                        } catch (InterruptedException e) {
                            return;
                        }
                    }
                });
                int parallel = Integer.parseInt(a[4]);
                long range = Long.parseLong(a[5]) << 20;
                long t0 = System.nanoTime();
                try (S3Tier tier = tier(a[1], parallel)) {
                    S3Tier.Downloaded done = tier.fetch(ObjectKey.of(a[2]), Path.of(a[3]), parallel, range, n -> { }).join();
                    double s = (System.nanoTime() - t0) / 1e9;
                    sampler.interrupt();
                    System.out.printf("downloaded %d bytes in %.1f s (%.0f MiB/s), verified %s, crc32c %08x%n",
                            done.info().sizeInBytes(), s, done.info().sizeInBytes() / 1048576.0 / s, done.verification(),
                            done.info().crc32c());
                    System.out.printf("heap: max %d MiB, sampled peak used %.1f MiB%n",
                            Runtime.getRuntime().maxMemory() >> 20, peak.get() / 1048576.0);
                }
            }
            case "crc" -> {
                CRC32C crc = new CRC32C();
                try (FileChannel ch = FileChannel.open(Path.of(a[1]))) {
                    ByteBuffer buf = ByteBuffer.allocateDirect(8 << 20);
                    while (ch.read(buf.clear()) > 0) {
                        crc.update(buf.flip());
                    }
                }
                System.out.printf("crc32c %08x%n", (int) crc.getValue());
            }
            default -> throw new IllegalArgumentException(a[0]);
        }
    }
}
EOF
# driver "JVM OPTIONS" MODE ARGS...
driver() {
  local jvm=$1; shift
  # shellcheck disable=SC2086
  "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -Dslf4j.internal.verbosity=ERROR $jvm ${JAVA_OPTS:-} -cp "$CP" "$work/S3HeapDriver.java" "$@"
}

echo "machine: $(machine_line)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
driver -Xmx1g serve "$work/s3" "$port" > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 150); do grep -q READY "$work/server.log" 2>/dev/null && break; sleep 0.2; done
grep -q READY "$work/server.log" || { cat "$work/server.log"; exit 1; }
endpoint="http://127.0.0.1:$port"
echo "server: $endpoint (pid $server_pid)"

bytes=$((SIZE_MIB * 1048576))
up=$(driver -Xmx1g upload "$endpoint" big/model.bin "$bytes" | tail -1)
echo "$up"
up_crc=${up##* }

sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
gclog="$work/gc.log"
down=$(driver "-Xmx${HEAP_MIB}m -Xlog:gc:file=$gclog" download "$endpoint" big/model.bin "$work/out/model.bin" "$PARALLEL" "$RANGE_MIB")
echo "$down"
file_crc=$(driver -Xmx256m crc "$work/out/model.bin" | tail -1); file_crc=${file_crc##* }
[ "$(stat -c %s "$work/out/model.bin")" = "$bytes" ] || { echo "downloaded file has the wrong size" >&2; exit 1; }
[ "$file_crc" = "$up_crc" ] || { echo "downloaded file's crc32c $file_crc differs from the upload's $up_crc" >&2; exit 1; }
echo "file checked: $bytes bytes, crc32c $file_crc as uploaded"

# "GC(12) Pause Young (Normal) (G1 Evacuation Pause) 120M->30M(256M) 3.2ms": the heap before each collection
gc_peak=$(grep -oE '[0-9]+M->[0-9]+M\([0-9]+M\)' "$gclog" | sed -E 's/M->.*//' | sort -n | tail -1)
gcs=$(grep -cE 'Pause' "$gclog" || true)
sampled=$(echo "$down" | sed -n 's/.*sampled peak used \([0-9.]*\) MiB.*/\1/p')
mibps=$(echo "$down" | sed -n 's/.*(\([0-9]*\) MiB\/s).*/\1/p')
peak=$(awk -v g="${gc_peak:-0}" -v s="${sampled:-0}" 'BEGIN {print (g > s) ? g : s}')
echo "peak heap used: ${gc_peak:-?} MiB before a collection (GC log, $gcs pauses), ${sampled} MiB sampled; limit ${HEAP_MIB} MiB"
ratio=$(awk -v p="$peak" -v h="$HEAP_MIB" 'BEGIN {printf "%.2f", p / h}')
echo "RESULT s3-heap ratio=$ratio peak_heap_MiB=$peak gc_peak_MiB=${gc_peak:-0} sampled_peak_MiB=$sampled heap_limit_MiB=$HEAP_MIB gc_pauses=$gcs bytes=$bytes MiBps=$mibps parallel=$PARALLEL range_MiB=$RANGE_MIB"
