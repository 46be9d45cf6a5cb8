package io.thermocline.nvmeof.auth;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class AuthMessageTest {
    /** The host's AUTH_Negotiate, byte by byte as Figure 188/189 lay it out. */
    @Test
    void negotiate_layout() {
        byte[] b = new DhchapHostSession("nqn.2014-08.org.nvmexpress:uuid:a", "nqn.2026-11.io.thermocline:x",
                DhchapSecret.of(0, new byte[32]), null, 0x0102, new java.security.SecureRandom()).negotiate();
        assertEquals(8 + 64, b.length);
        assertEquals(0x00, b[0]);           // AUTH_Type: common
        assertEquals(0x00, b[1]);           // AUTH_Id: negotiate
        assertEquals(0x02, b[4]);           // T_ID, little-endian
        assertEquals(0x01, b[5]);
        assertEquals(0x00, b[6]);           // SC_C: no secure channel concatenation
        assertEquals(0x01, b[7]);           // NAPD
        assertEquals(0x01, b[8]);           // AuthID: DH-HMAC-CHAP
        assertEquals(3, b[10]);             // HALEN
        assertEquals(6, b[11]);             // DHLEN
        assertArrayEquals(new byte[] {1, 2, 3}, java.util.Arrays.copyOfRange(b, 12, 15));
        assertArrayEquals(new byte[] {0, 1, 2, 3, 4, 5}, java.util.Arrays.copyOfRange(b, 42, 48));
        AuthMessage.Negotiate n = (AuthMessage.Negotiate) AuthMessage.decode(b, b.length);
        assertEquals(List.of(1, 2, 3), n.hashIds());
        assertEquals(List.of(0, 1, 2, 3, 4, 5), n.dhGroupIds());
    }

    @Test
    void challengeAndReply_roundTripThroughAZeroPaddedReceiveBuffer() {
        byte[] c1 = new byte[32];
        c1[0] = 9;
        byte[] dh = new byte[256];
        dh[255] = 5;
        byte[] enc = new AuthMessage.Challenge(7, 1, 1, 0xCAFEBABE, c1, dh).encode();
        assertEquals(16 + 32 + 256, enc.length);
        assertEquals(0x01, enc[0]);
        assertEquals(0x01, enc[1]);
        assertEquals(32, enc[6]);
        assertEquals(0, enc[10]);           // DHVLEN 256, little-endian
        assertEquals(1, enc[11]);
        assertEquals((byte) 0xBE, enc[12]); // SEQNUM, little-endian
        byte[] padded = java.util.Arrays.copyOf(enc, 4096);
        AuthMessage.Challenge c = (AuthMessage.Challenge) AuthMessage.decode(padded, padded.length);
        assertEquals(0xCAFEBABE, c.sequenceNumber());
        assertArrayEquals(c1, c.challenge());
        assertArrayEquals(dh, c.dhValue());

        byte[] r = new AuthMessage.Reply(7, new byte[48], true, 5, new byte[48], new byte[0]).encode();
        assertEquals(16 + 96, r.length);
        assertEquals(1, r[8]);              // CVALID
        AuthMessage.Reply back = (AuthMessage.Reply) AuthMessage.decode(r, r.length);
        assertTrue(back.challengeValid());
        assertEquals(5, back.sequenceNumber());
    }

    @Test
    void decode_truncatedOrUnknown_isRefusedWithTheSpecReason() {
        byte[] enc = new AuthMessage.Challenge(7, 1, 1, 1, new byte[32], new byte[256]).encode();
        DhchapException e = assertThrows(DhchapException.class, () -> AuthMessage.decode(enc, 100));
        assertEquals(DhchapFailure.INCORRECT_PAYLOAD, e.failure());
        byte[] unknown = new byte[16];
        unknown[0] = 1;
        unknown[1] = 0x55;
        e = assertThrows(DhchapException.class, () -> AuthMessage.decode(unknown, 16));
        assertEquals(DhchapFailure.INCORRECT_PROTOCOL_MESSAGE, e.failure());
    }

    @Test
    void failure_layout() {
        byte[] f = new AuthMessage.Failure(3, true, 1, DhchapFailure.DH_GROUP_UNUSABLE.code()).encode();
        assertArrayEquals(new byte[] {0x00, (byte) 0xF1, 0, 0, 3, 0, 1, 5}, f);
    }
}
