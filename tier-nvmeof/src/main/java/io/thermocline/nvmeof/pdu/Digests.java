package io.thermocline.nvmeof.pdu;

import io.netty.buffer.ByteBuf;
import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

/**
 * Header and data digests: CRC32C over the header or the data, sent little-endian
 * (NVMe/TCP 1.0 §3.6.1, "HDGST" and "DDGST"; §2.4 "Digests").
 */
final class Digests {
    static final int LENGTH = 4;

    private Digests() {
    }

    static int crc32c(ByteBuf buf, int index, int length) {
        CRC32C crc = new CRC32C();
        if (buf.nioBufferCount() == 1) {
            crc.update(buf.nioBuffer(index, length));
        } else {
            for (ByteBuffer b : buf.nioBuffers(index, length)) {
                crc.update(b);
            }
        }
        return (int) crc.getValue();
    }
}
