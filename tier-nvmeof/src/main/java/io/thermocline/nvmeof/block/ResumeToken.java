package io.thermocline.nvmeof.block;

import io.thermocline.tier.Crc32c;
import io.thermocline.tier.ResumePoint;
import io.thermocline.tier.WriteRequest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.UUID;

/**
 * The token of a {@link ResumePoint} made by a {@link BlockTier} writer: everything another
 * process needs to find the checkpointed bytes again, since nothing about an uncommitted writer is
 * stored on the device or in the catalog.
 *
 * <p>One line of text, fields separated by single spaces:
 * <pre>
 * blocktier-resume/1 uuid=&lt;device uuid&gt; au=&lt;allocation unit&gt; bs=&lt;block size&gt;
 *     size=&lt;object size&gt; chunk=&lt;chunk size&gt; key=&lt;CRC32C of the key's UTF-8, 8 hex digits&gt;
 *     extents=&lt;start&gt;+&lt;units&gt;,...
 * </pre>
 * The device uuid is the one the superblock got at format, so a token from another device, or
 * from this device before it was formatted again, is refused; the geometry fields refuse a token
 * read against a different layout. The request fields tie the token to the writer's key, size and
 * chunk size. The extents are the writer's whole reservation in the order the object fills them.
 *
 * @param deviceUuid          the device's identity from the superblock
 * @param allocationUnitInBytes the tier's allocation unit
 * @param blockSizeInBytes    the device's logical block size
 * @param sizeInBytes         the object's declared size
 * @param chunkSizeInBytes    the object's chunk size
 * @param keyCrc32c           CRC32C of the object key's UTF-8 bytes
 * @param extents             the reserved extents, in object order
 */
record ResumeToken(UUID deviceUuid, int allocationUnitInBytes, int blockSizeInBytes, long sizeInBytes,
                   int chunkSizeInBytes, int keyCrc32c, List<Extent> extents) {

    static final String PREFIX = "blocktier-resume/1";

    ResumeToken {
        extents = List.copyOf(extents);
    }

    /** The token of a writer of {@code request} that holds {@code extents}. */
    static ResumeToken of(Superblock sb, WriteRequest request, List<Extent> extents) {
        return new ResumeToken(sb.deviceUuid(), sb.allocationUnitInBytes(), sb.blockSizeInBytes(),
                request.sizeInBytes(), request.chunkSizeInBytes(), Crc32c.of(request.key().toUtf8()), extents);
    }

    /** True if this token was made by a writer of the same key, size and chunk size as {@code request}. */
    boolean matches(WriteRequest request) {
        return sizeInBytes == request.sizeInBytes() && chunkSizeInBytes == request.chunkSizeInBytes()
                && keyCrc32c == Crc32c.of(request.key().toUtf8());
    }

    /** True if this token was made on a device with {@code sb}'s identity and layout. */
    boolean matches(Superblock sb) {
        return deviceUuid.equals(sb.deviceUuid()) && allocationUnitInBytes == sb.allocationUnitInBytes()
                && blockSizeInBytes == sb.blockSizeInBytes();
    }

    long unitCount() {
        long units = 0;
        for (Extent e : extents) {
            units += e.unitCount();
        }
        return units;
    }

    String format() {
        StringBuilder out = new StringBuilder(PREFIX)
                .append(" uuid=").append(deviceUuid)
                .append(" au=").append(allocationUnitInBytes)
                .append(" bs=").append(blockSizeInBytes)
                .append(" size=").append(sizeInBytes)
                .append(" chunk=").append(chunkSizeInBytes)
                .append(" key=").append(HexFormat.of().toHexDigits(keyCrc32c))
                .append(" extents=");
        for (int i = 0; i < extents.size(); i++) {
            Extent e = extents.get(i);
            out.append(i == 0 ? "" : ",").append(e.startUnit()).append('+').append(e.unitCount());
        }
        return out.toString();
    }

    /**
     * Reads a token; empty if it is not one this format writes (another tier's token, a damaged
     * or edited one). Never throws.
     */
    static Optional<ResumeToken> parse(String token) {
        String[] fields = token.split(" ", -1);
        if (fields.length != 8 || !fields[0].equals(PREFIX)) {
            return Optional.empty();
        }
        String[] names = {"uuid", "au", "bs", "size", "chunk", "key", "extents"};
        String[] values = new String[names.length];
        for (int i = 0; i < names.length; i++) {
            String f = fields[i + 1];
            if (!f.startsWith(names[i] + "=")) {
                return Optional.empty();
            }
            values[i] = f.substring(names[i].length() + 1);
        }
        try {
            UUID uuid = UUID.fromString(values[0]);
            int au = Integer.parseInt(values[1]);
            int bs = Integer.parseInt(values[2]);
            long size = Long.parseLong(values[3]);
            int chunk = Integer.parseInt(values[4]);
            if (values[5].length() != 8) {
                return Optional.empty();
            }
            int key = HexFormat.fromHexDigits(values[5]);
            if (au < 1 || bs < 1 || size < 0 || chunk < 1 || values[6].isEmpty()) {
                return Optional.empty();
            }
            List<Extent> extents = new ArrayList<>();
            for (String e : values[6].split(",", -1)) {
                int plus = e.indexOf('+');
                if (plus < 1) {
                    return Optional.empty();
                }
                extents.add(new Extent(Long.parseLong(e.substring(0, plus)), Long.parseLong(e.substring(plus + 1))));
            }
            return Optional.of(new ResumeToken(uuid, au, bs, size, chunk, key, extents));
        } catch (IllegalArgumentException e) { // NumberFormatException, a bad uuid or extent
            return Optional.empty();
        }
    }
}
