package io.thermocline.engine;

import io.thermocline.tier.ObjectInfo;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.CRC32C;

/**
 * Chunks of copies from a slow tier that were cut off (the process was killed, the owner lost the
 * lock, a network failure), kept on local disk so that the next copy of the same object does not
 * fetch them again.
 *
 * <p><b>Design.</b> The tiers publish an object only when it is whole (a writer that is not
 * committed leaves nothing), so a copy that dies loses every chunk it had fetched. For the copies
 * where that matters — from the backing (object) tier, where each chunk costs a network round
 * trip — the copier also writes each chunk it has read and verified into a sparse file here, one
 * per object version: {@code <sha-256 of the key, 32 hex>-<object CRC32C>-<size>-<chunk size>.part}.
 * The next copy of that same version reads each chunk from the file first and uses it only if its
 * bytes match the object's chunk CRC32C; anything else (a hole never written, a chunk torn by a
 * crash, a file of an object since replaced) fails that check and is fetched from the source
 * again. So the file needs no index or bitmap of its own, and a lost or damaged one costs only
 * the refetch. The file is deleted once the move is committed, on the tier and in the catalog
 * ({@link Copier#committed}); files not touched for
 * {@code maxAge} are deleted when the engine opens.
 *
 * <p>The price is one extra local write per chunk of such copies (page cache, never fsynced:
 * after a power loss the chunk checks find what survived).
 *
 * <p>Thread-safe: a {@link Session}'s chunks may be read and saved from several threads at once
 * (positional I/O on one channel).
 */
final class CopyResume {

    private static final Logger log = LoggerFactory.getLogger(CopyResume.class);
    private static final String SUFFIX = ".part";

    private final Path dir;

    CopyResume(Path dir, Duration maxAge) {
        this.dir = dir;
        try {
            Files.createDirectories(dir);
            long cutoff = System.currentTimeMillis() - maxAge.toMillis();
            try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*" + SUFFIX)) {
                for (Path f : files) {
                    if (Files.getLastModifiedTime(f).toMillis() < cutoff) {
                        Files.deleteIfExists(f);
                    }
                }
            }
        } catch (IOException e) {
            log.warn("cannot prepare the resume directory {}: {}; cut-off copies will start over", dir, e.toString());
        }
    }

    Path directory() {
        return dir;
    }

    /** The file of one object version. */
    Path fileOf(ObjectInfo info) {
        try {
            byte[] h = MessageDigest.getInstance("SHA-256").digest(info.key().toString().getBytes(StandardCharsets.UTF_8));
            return dir.resolve(HexFormat.of().formatHex(h, 0, 16) + "-" + String.format("%08x", info.crc32c()) + "-"
                    + info.sizeInBytes() + "-" + info.chunkSizeInBytes() + SUFFIX);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    /** Opens (creating it if needed) the file of {@code info}; null if that fails, and the copy goes on without it. */
    Session open(ObjectInfo info) {
        Path f = fileOf(info);
        try {
            FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
            return new Session(info, f, ch);
        } catch (IOException e) {
            log.warn("cannot open {} to keep the chunks of {}: {}", f, info.key(), e.toString());
            return null;
        }
    }

    /** The chunks of one copy. */
    static final class Session implements AutoCloseable {
        private final ObjectInfo info;
        private final Path file;
        private final FileChannel channel;
        private final AtomicInteger reused = new AtomicInteger();
        private volatile boolean failed;

        private Session(ObjectInfo info, Path file, FileChannel channel) {
            this.info = info;
            this.file = file;
            this.channel = channel;
        }

        Path file() {
            return file;
        }

        /**
         * Reads chunk {@code index} from the file into {@code buf} (cleared, limited to the
         * chunk's length) and checks it against the object's chunk CRC32C.
         *
         * @return true with {@code buf} flipped (ready to be written) if the chunk is there and
         *         verified; false otherwise, with {@code buf}'s contents undefined
         */
        boolean readVerified(int index, ByteBuffer buf) {
            if (failed) {
                return false;
            }
            long offset = info.chunkOffset(index);
            int length = info.chunkLength(index);
            try {
                if (channel.size() < offset + length) {
                    return false;
                }
                buf.clear().limit(length);
                while (buf.hasRemaining()) {
                    if (channel.read(buf, offset + buf.position()) < 0) {
                        return false;
                    }
                }
                buf.flip();
                CRC32C crc = new CRC32C();
                crc.update(buf.duplicate());
                if ((int) crc.getValue() != info.chunkCrc32c(index)) {
                    return false;
                }
                reused.incrementAndGet();
                return true;
            } catch (IOException e) {
                failed = true;
                log.warn("reading {}: {}; the copy of {} fetches every chunk", file, e.toString(), info.key());
                return false;
            }
        }

        /** Keeps chunk {@code index} (the bytes between {@code buf}'s position and limit, which are not consumed). */
        void save(int index, ByteBuffer buf) {
            if (failed) {
                return;
            }
            ByteBuffer b = buf.duplicate();
            long offset = info.chunkOffset(index);
            try {
                while (b.hasRemaining()) {
                    channel.write(b, offset + b.position() - buf.position());
                }
            } catch (IOException e) {
                failed = true; // a full disk must not fail the copy; it only stops keeping chunks
                log.warn("writing {}: {}; the chunks of {} are no longer kept", file, e.toString(), info.key());
            }
        }

        /** Chunks taken from the file instead of the source. */
        int reused() {
            return reused.get();
        }

        /** The copy committed: the file is no longer needed. */
        void finish() {
            close();
            try {
                Files.deleteIfExists(file);
            } catch (IOException e) {
                log.warn("cannot delete {}: {}", file, e.toString());
            }
        }

        /** Closes the file and keeps it, for the next copy of the object. */
        @Override
        public void close() {
            try {
                channel.close();
            } catch (IOException e) {
                log.debug("closing {}: {}", file, e.toString());
            }
        }
    }
}
