package io.thermocline.engine;

import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.testkit.TestData;

import java.io.PrintStream;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;

/**
 * The attached process of {@link MultiProcessTest}: attaches to the engine an owner runs, then
 * reads one object whole, again and again, checking every byte, until its time is up. Prints
 * {@code READY} once attached, {@code FAIL <what>} for every read that failed or returned wrong
 * bytes, and {@code DONE reads=<n> failures=<n> tiers=<tier>:<reads>,...} at the end.
 *
 * <p>Arguments: directory, S3 endpoint, access key, secret key, bucket, key, seed, size,
 * milliseconds to run.
 */
public final class AttachedReader {

    private AttachedReader() {
    }

    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true);
        EngineConfig config = EngineFixture.config(Path.of(args[0]), URI.create(args[1]), args[2], args[3], args[4],
                MultiProcessTest.policy()).build();
        ObjectKey key = ObjectKey.of(args[5]);
        long seed = Long.parseLong(args[6]);
        long size = Long.parseLong(args[7]);
        long until = System.nanoTime() + Duration.ofMillis(Long.parseLong(args[8])).toNanos();
        Map<String, Integer> byTier = new TreeMap<>();
        long reads = 0;
        long failures = 0;
        try (TierEngine engine = TierEngine.open(config)) {
            if (engine.isOwner()) {
                out.println("FAIL this process became the owner instead of attaching");
                out.println("DONE reads=0 failures=1 tiers=");
                return;
            }
            out.println("READY");
            ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
            while (System.nanoTime() < until) {
                reads++;
                try (EngineReader r = engine.read(key).join(); SeekableByteChannel ch = r.channel()) {
                    // where the read starts: a read that starts on s3 may finish on local, when the
                    // promotion it asked for commits meanwhile
                    String openedOn = r.tier();
                    long position = 0;
                    while (true) {
                        buf.clear();
                        int n = ch.read(buf);
                        if (n < 0) {
                            break;
                        }
                        buf.flip();
                        long bad = TestData.firstMismatch(seed, position, buf);
                        if (bad >= 0) {
                            throw new IllegalStateException("wrong byte at " + bad + " reading from " + r.tier());
                        }
                        position += n;
                    }
                    if (position != size) {
                        throw new IllegalStateException(position + " bytes read of " + size + " from " + r.tier());
                    }
                    byTier.merge(openedOn, 1, Integer::sum);
                } catch (RuntimeException | java.io.IOException e) {
                    failures++;
                    out.println("FAIL read " + reads + ": " + e);
                }
            }
        }
        StringBuilder tiers = new StringBuilder();
        byTier.forEach((t, n) -> tiers.append(tiers.isEmpty() ? "" : ",").append(t).append(':').append(n));
        out.println("DONE reads=" + reads + " failures=" + failures + " tiers=" + tiers);
    }
}
