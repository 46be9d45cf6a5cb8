package io.thermocline.engine;

import io.thermocline.tier.Crc32c;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ResumePoint;
import io.thermocline.tier.Tier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Records of puts that can be resumed: for each key whose put was cut off, what its source was
 * and where each target tier's writer can be taken up again.
 *
 * <p><b>Design.</b> A resumable put ({@link PutOptions#resumeId()}) checkpoints its writers now and
 * then ({@link io.thermocline.tier.ObjectWriter#checkpoint}) and saves the points here, together
 * with the CRC32C of every chunk it has read from the source so far. The next put of the same key
 * and source reads the source's first chunks again, keeps the prefix whose checksums match the
 * record, and asks each tier to resume its writer there ({@link Tier#resume}); a tier that can
 * no longer (its state expired, was reclaimed or damaged) simply starts over. So the record needs
 * no other bookkeeping: a stale or damaged record costs only the rewrite.
 *
 * <p>One file per key, {@code <sha-256 of the key, 32 hex>.put}, in the engine's resume directory,
 * replaced atomically (written to a temp file, fsynced, renamed). Its text:
 * <pre>
 * thermocline put resume 1
 * key &lt;key&gt;
 * source &lt;resumeId&gt;
 * size &lt;bytes&gt;
 * chunk &lt;chunk size&gt;
 * crc32c &lt;hex&gt; &lt;hex&gt; ...          (one per chunk of the longest point)
 * point &lt;tier&gt; &lt;length&gt; &lt;token&gt;   (one line per tier that gave a point)
 * end &lt;CRC32C of every byte above, hex&gt;
 * </pre>
 * A file that does not parse or whose end checksum differs is deleted and ignored.
 *
 * <p>Thread-safe for distinct keys; the owner runs one put per key at a time.
 */
final class PutResume {

    private static final Logger log = LoggerFactory.getLogger(PutResume.class);
    static final String SUFFIX = ".put";
    private static final String MAGIC = "thermocline put resume 1";

    /** What a cut-off put left: its source, the chunk checksums it read, and a point per tier. */
    record Saved(String resumeId, long size, int chunkSize, int[] crcs, Map<String, ResumePoint> points) {

        /** The longest point's length. */
        long longest() {
            return points.values().stream().mapToLong(ResumePoint::length).max().orElse(0);
        }
    }

    private final Path dir;

    PutResume(Path dir) {
        this.dir = dir;
    }

    Path fileOf(ObjectKey key) {
        try {
            byte[] h = MessageDigest.getInstance("SHA-256").digest(key.toString().getBytes(StandardCharsets.UTF_8));
            return dir.resolve(HexFormat.of().formatHex(h, 0, 16) + SUFFIX);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }

    /** Whether a record of {@code key}'s cut-off put exists (readable or not). */
    boolean has(ObjectKey key) {
        return Files.exists(fileOf(key));
    }

    /** The record of {@code key}'s cut-off put, if there is a readable one. */
    Optional<Saved> load(ObjectKey key) {
        Path file = fileOf(key);
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            log.warn("cannot read the put resume record {}: {}; the put starts over", file, e.toString());
            return Optional.empty();
        }
        try {
            return Optional.of(parse(key, text));
        } catch (RuntimeException e) {
            log.warn("put resume record {} is damaged ({}); deleting it, the put starts over", file, e.getMessage());
            delete(key);
            return Optional.empty();
        }
    }

    private static Saved parse(ObjectKey key, String text) {
        int endAt = text.lastIndexOf("end ");
        if (endAt < 0 || !text.endsWith("\n")) {
            throw new IllegalArgumentException("no end line");
        }
        String body = text.substring(0, endAt);
        byte[] bodyBytes = body.getBytes(StandardCharsets.UTF_8);
        int want = (int) Long.parseLong(text.substring(endAt + 4, text.length() - 1).trim(), 16);
        if (Crc32c.of(bodyBytes) != want) {
            throw new IllegalArgumentException("end checksum differs");
        }
        List<String> lines = body.lines().toList();
        if (lines.size() < 6 || !lines.get(0).equals(MAGIC)) {
            throw new IllegalArgumentException("not a '" + MAGIC + "' record");
        }
        if (!lines.get(1).equals("key " + key)) {
            throw new IllegalArgumentException("record of another key: " + lines.get(1));
        }
        String source = value(lines.get(2), "source");
        long size = Long.parseLong(value(lines.get(3), "size"));
        int chunk = Integer.parseInt(value(lines.get(4), "chunk"));
        String crcLine = value(lines.get(5), "crc32c");
        String[] hex = crcLine.isEmpty() ? new String[0] : crcLine.split(" ");
        int[] crcs = new int[hex.length];
        for (int i = 0; i < hex.length; i++) {
            crcs[i] = (int) Long.parseLong(hex[i], 16);
        }
        Map<String, ResumePoint> points = new LinkedHashMap<>();
        for (String line : lines.subList(6, lines.size())) {
            String[] f = value(line, "point").split(" ", 3);
            points.put(f[0], new ResumePoint(Long.parseLong(f[1]), f[2]));
        }
        Saved s = new Saved(source, size, chunk, crcs, points);
        if (chunk <= 0 || (s.longest() + chunk - 1) / chunk > crcs.length) {
            throw new IllegalArgumentException("fewer chunk checksums than its points cover");
        }
        return s;
    }

    private static String value(String line, String name) {
        if (!line.startsWith(name + " ") && !line.equals(name)) {
            throw new IllegalArgumentException("expected a '" + name + "' line, found '" + line + "'");
        }
        return line.length() > name.length() ? line.substring(name.length() + 1) : "";
    }

    /** Replaces {@code key}'s record, durably. Blocking. */
    void save(ObjectKey key, Saved s) throws IOException {
        StringBuilder b = new StringBuilder(64 + s.crcs().length * 9);
        b.append(MAGIC).append('\n');
        b.append("key ").append(key).append('\n');
        b.append("source ").append(s.resumeId()).append('\n');
        b.append("size ").append(s.size()).append('\n');
        b.append("chunk ").append(s.chunkSize()).append('\n');
        b.append("crc32c");
        for (int c : s.crcs()) {
            b.append(' ').append(hex(c));
        }
        b.append('\n');
        for (Map.Entry<String, ResumePoint> e : s.points().entrySet()) {
            b.append("point ").append(e.getKey()).append(' ').append(e.getValue().length()).append(' ')
                    .append(e.getValue().token()).append('\n');
        }
        byte[] body = b.toString().getBytes(StandardCharsets.UTF_8);
        byte[] end = ("end " + hex(Crc32c.of(body)) + "\n").getBytes(StandardCharsets.UTF_8);
        Files.createDirectories(dir);
        Path file = fileOf(key);
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ch.write(new java.nio.ByteBuffer[] {java.nio.ByteBuffer.wrap(body), java.nio.ByteBuffer.wrap(end)});
            ch.force(false);
        }
        try {
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private static String hex(int crc) {
        return String.format("%08x", crc);
    }

    /** Deletes {@code key}'s record, if any. */
    void delete(ObjectKey key) {
        try {
            Files.deleteIfExists(fileOf(key));
        } catch (IOException e) {
            log.warn("cannot delete the put resume record of {}: {}", key, e.toString());
        }
    }

    /**
     * Deletes records not written for {@code maxAge}, first telling their tiers to release what
     * the points hold. Called when the owner starts.
     */
    void expire(Duration maxAge, Map<String, Tier> tiers) {
        long cutoff = System.currentTimeMillis() - maxAge.toMillis();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*" + SUFFIX)) {
            for (Path f : files) {
                if (Files.getLastModifiedTime(f).toMillis() >= cutoff) {
                    continue;
                }
                try {
                    String text = Files.readString(f, StandardCharsets.UTF_8);
                    String keyLine = text.lines().skip(1).findFirst().orElse("");
                    if (keyLine.startsWith("key ")) {
                        Saved s = parse(ObjectKey.of(keyLine.substring(4)), text);
                        discard(s, tiers);
                    }
                } catch (RuntimeException e) {
                    log.debug("expired put resume record {} does not parse: {}", f, e.toString());
                }
                Files.deleteIfExists(f);
            }
        } catch (NoSuchFileException e) {
            // no resume directory yet
        } catch (IOException e) {
            log.warn("cannot clean the put resume records in {}: {}", dir, e.toString());
        }
    }

    /** Tells each tier of the record to release what its point holds; failures are logged. */
    static void discard(Saved s, Map<String, Tier> tiers) {
        for (Map.Entry<String, ResumePoint> e : s.points().entrySet()) {
            Tier t = tiers.get(e.getKey());
            if (t == null) {
                continue;
            }
            try {
                t.discard(e.getValue()).join();
            } catch (RuntimeException ex) {
                log.warn("tier {} could not release a cut-off put's state ({}): {}", e.getKey(), e.getValue().token(), ex.toString());
            }
        }
    }
}
