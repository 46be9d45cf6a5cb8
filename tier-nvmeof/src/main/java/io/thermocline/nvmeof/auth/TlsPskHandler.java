package io.thermocline.nvmeof.auth;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.channel.FileRegion;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.ArrayDeque;
import java.util.Vector;
import java.util.function.Function;
import org.bouncycastle.tls.AbstractTlsClient;
import org.bouncycastle.tls.AbstractTlsServer;
import org.bouncycastle.tls.BasicTlsPSKExternal;
import org.bouncycastle.tls.CipherSuite;
import org.bouncycastle.tls.PRFAlgorithm;
import org.bouncycastle.tls.ProtocolVersion;
import org.bouncycastle.tls.PskIdentity;
import org.bouncycastle.tls.TlsAuthentication;
import org.bouncycastle.tls.TlsClientProtocol;
import org.bouncycastle.tls.TlsCredentials;
import org.bouncycastle.tls.TlsFatalAlert;
import org.bouncycastle.tls.TlsPSKExternal;
import org.bouncycastle.tls.TlsProtocol;
import org.bouncycastle.tls.TlsServerCertificate;
import org.bouncycastle.tls.TlsServerProtocol;
import org.bouncycastle.tls.AlertDescription;
import org.bouncycastle.tls.CertificateRequest;
import org.bouncycastle.tls.crypto.TlsCrypto;
import org.bouncycastle.tls.crypto.impl.jcajce.JcaTlsCryptoProvider;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * TLS 1.3 with an external pre-shared key on an NVMe/TCP connection (NVMe/TCP Transport 1.1
 * §3.6, TP8011), as the first handler of a Netty pipeline: ciphertext below it, NVMe/TCP PDUs
 * above. Runs BouncyCastle's TLS protocol in its non-blocking mode on the channel's event loop,
 * with the JCA's AES-GCM.
 *
 * <p>The host offers one PSK identity, {@code NVMe0Rhh <hostnqn> <subnqn>}, with the cipher suite
 * of its hash (TLS_AES_128_GCM_SHA256 or TLS_AES_256_GCM_SHA384) and the psk_dhe_ke key exchange
 * mode; the controller finds the PSK for an identity it is offered through a lookup, and refuses
 * the handshake (alert unknown_psk_identity) when it has none. No certificates are involved.
 *
 * <p>Writes made before the handshake completes wait and go out after it. A handshake failure or a
 * bad record is reported with {@code exceptionCaught} and closes the connection. Buffers: inbound
 * ciphertext is released here; outbound plaintext (a {@link ByteBuf} or a {@link FileRegion}) is
 * released once encrypted.
 */
public final class TlsPskHandler extends ChannelDuplexHandler {
    private static final Logger log = LoggerFactory.getLogger(TlsPskHandler.class);
    private static final SecureRandom RANDOM = new SecureRandom();
    /** Plaintext bytes encrypted per call: TLS records are at most 16 KiB, this keeps copies short. */
    private static final int CHUNK = 64 << 10;

    private final TlsProtocol protocol;
    private final Runnable start;
    private final ArrayDeque<Object[]> pending = new ArrayDeque<>();
    private final String description;
    private boolean handshakeDone;
    private volatile String pskIdentity;
    /** Reused copies between Netty's buffers and the protocol's arrays (event loop only). */
    private byte[] inScratch = new byte[16 << 10];
    private final byte[] outScratch = new byte[CHUNK];
    private boolean failed;
    private ChannelHandlerContext ctx;

    private TlsPskHandler(TlsProtocol protocol, Runnable start, String description) {
        this.protocol = protocol;
        this.start = start;
        this.description = description;
    }

    private static TlsCrypto crypto() {
        return new JcaTlsCryptoProvider().create(RANDOM);
    }

    /** The host's side, offering the identity and TLS PSK derived from {@code key}. */
    public static TlsPskHandler client(TlsPsk key, String hostNqn, String subsystemNqn) {
        TlsCrypto crypto = crypto();
        byte[] identity = key.identity(hostNqn, subsystemNqn).getBytes(StandardCharsets.UTF_8);
        boolean sha384 = key.hash() == 2;
        TlsPSKExternal psk = new BasicTlsPSKExternal(identity, crypto.createSecret(key.tlsPsk(hostNqn, subsystemNqn)),
                sha384 ? PRFAlgorithm.tls13_hkdf_sha384 : PRFAlgorithm.tls13_hkdf_sha256);
        TlsClientProtocol protocol = new TlsClientProtocol();
        TlsPskHandler[] self = new TlsPskHandler[1];
        AbstractTlsClient client = new AbstractTlsClient(crypto) {
            @Override
            protected ProtocolVersion[] getSupportedVersions() {
                return ProtocolVersion.TLSv13.only();
            }

            @Override
            protected int[] getSupportedCipherSuites() {
                return new int[] {sha384 ? CipherSuite.TLS_AES_256_GCM_SHA384 : CipherSuite.TLS_AES_128_GCM_SHA256};
            }

            @Override
            public Vector getExternalPSKs() {
                Vector<TlsPSKExternal> v = new Vector<>();
                v.add(psk);
                return v;
            }

            @Override
            public TlsAuthentication getAuthentication() {
                return new TlsAuthentication() {
                    @Override
                    public void notifyServerCertificate(TlsServerCertificate certificate) throws IOException {
                        throw new TlsFatalAlert(AlertDescription.unsupported_certificate, "NVMe/TCP TLS uses a PSK, "
                                + "but the controller sent a certificate");
                    }

                    @Override
                    public TlsCredentials getClientCredentials(CertificateRequest request) {
                        return null;
                    }
                };
            }

            @Override
            public void notifyHandshakeComplete() {
                self[0].handshakeDone = true;
            }
        };
        TlsPskHandler h = new TlsPskHandler(protocol, () -> {
            try {
                protocol.connect(client);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }, "TLS to " + subsystemNqn + " as " + new String(identity, StandardCharsets.UTF_8));
        self[0] = h;
        return h;
    }

    /**
     * The controller's side. {@code pskByIdentity} maps an offered identity to its TLS PSK, or to
     * {@code null} when this controller has none for it.
     */
    public static TlsPskHandler server(Function<String, byte[]> pskByIdentity) {
        TlsCrypto crypto = crypto();
        TlsServerProtocol protocol = new TlsServerProtocol();
        TlsPskHandler[] self = new TlsPskHandler[1];
        AbstractTlsServer server = new AbstractTlsServer(crypto) {
            @Override
            protected ProtocolVersion[] getSupportedVersions() {
                return ProtocolVersion.TLSv13.only();
            }

            @Override
            protected int[] getSupportedCipherSuites() {
                return new int[] {CipherSuite.TLS_AES_128_GCM_SHA256, CipherSuite.TLS_AES_256_GCM_SHA384};
            }

            @Override
            public TlsPSKExternal getExternalPSK(Vector identities) {
                for (Object o : identities) {
                    byte[] id = ((PskIdentity) o).getIdentity();
                    String identity = new String(id, StandardCharsets.UTF_8);
                    byte[] key = pskByIdentity.apply(identity);
                    if (key != null) {
                        self[0].pskIdentity = identity;
                        return new BasicTlsPSKExternal(id, crypto.createSecret(key),
                                key.length == 48 ? PRFAlgorithm.tls13_hkdf_sha384 : PRFAlgorithm.tls13_hkdf_sha256);
                    }
                    log.info("TLS: no PSK for identity '{}'", identity);
                }
                return null;
            }

            @Override
            public TlsCredentials getCredentials() throws IOException {
                throw new TlsFatalAlert(AlertDescription.unknown_psk_identity, "no PSK for any identity the host offered");
            }

            @Override
            public void notifyHandshakeComplete() {
                self[0].handshakeDone = true;
            }
        };
        TlsPskHandler h = new TlsPskHandler(protocol, () -> {
            try {
                protocol.accept(server);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }, "TLS from a host");
        self[0] = h;
        return h;
    }

    /**
     * On the controller's side, the PSK identity the handshake selected ({@code NVMe0Rhh <hostnqn>
     * <subnqn>...}), which binds the connection to that host and subsystem; {@code null} before.
     */
    public String pskIdentity() {
        return pskIdentity;
    }

    /** Whether the handshake has completed. */
    public boolean handshakeDone() {
        return handshakeDone;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        if (ctx.channel().isActive()) {
            begin();
        }
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) throws Exception {
        begin();
        super.channelActive(ctx);
    }

    private boolean begun;

    private void begin() {
        if (begun) {
            return;
        }
        begun = true;
        try {
            start.run();
            flushOutput(true);
        } catch (RuntimeException e) {
            fail(e.getCause() != null ? e.getCause() : e);
        }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof ByteBuf in)) {
            ctx.fireChannelRead(msg);
            return;
        }
        if (failed) {
            in.release();
            return;
        }
        try {
            int n = in.readableBytes();
            if (inScratch.length < n) {
                inScratch = new byte[Math.max(n, inScratch.length * 2)];
            }
            in.readBytes(inScratch, 0, n);
            protocol.offerInput(inScratch, 0, n);
        } catch (IOException e) {
            fail(e);
            return;
        } finally {
            in.release();
        }
        boolean wasDone = handshakeDone;
        flushOutput(true);
        int n = protocol.getAvailableInputBytes();
        if (n > 0) {
            ByteBuf plain = ctx.alloc().heapBuffer(n);
            protocol.readInput(plain.nioBuffer(0, n), n);
            plain.writerIndex(n);
            ctx.fireChannelRead(plain);
        }
        if (handshakeDone && !pending.isEmpty()) {
            drainPending();
        }
        if (handshakeDone && !wasDone) {
            log.debug("{}: handshake complete", description);
        }
        if (protocol.isClosed() && ctx.channel().isActive()) {
            ctx.close();
        }
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        if (failed) {
            ReferenceCountUtil.release(msg);
            promise.tryFailure(new IOException(description + " failed"));
            return;
        }
        if (!handshakeDone) {
            pending.add(new Object[] {msg, promise});
            return;
        }
        encrypt(msg, promise);
    }

    private void drainPending() {
        Object[] p;
        while ((p = pending.poll()) != null) {
            encrypt(p[0], (ChannelPromise) p[1]);
        }
        ctx.flush();
    }

    private void encrypt(Object msg, ChannelPromise promise) {
        try {
            switch (msg) {
                case ByteBuf buf -> {
                    while (buf.isReadable()) {
                        int n = Math.min(outScratch.length, buf.readableBytes());
                        buf.readBytes(outScratch, 0, n);
                        protocol.writeApplicationData(outScratch, 0, n);
                    }
                }
                case FileRegion region -> {
                    // sendfile(2) cannot encrypt: read the region through, in chunks
                    long position = region.transferred();
                    while (position < region.count()) {
                        long before = position;
                        position += region.transferTo(new WritableByteChannel() {
                            @Override
                            public int write(ByteBuffer src) throws IOException {
                                int n = src.remaining();
                                byte[] b = new byte[n];
                                src.get(b);
                                protocol.writeApplicationData(b, 0, n);
                                return n;
                            }

                            @Override
                            public boolean isOpen() {
                                return true;
                            }

                            @Override
                            public void close() {
                            }
                        }, position);
                        if (position == before) {
                            throw new IOException("file region made no progress at " + position + " of " + region.count());
                        }
                    }
                }
                default -> throw new IOException("cannot encrypt " + msg.getClass().getName());
            }
        } catch (IOException e) {
            ReferenceCountUtil.release(msg);
            promise.tryFailure(e);
            fail(e);
            return;
        }
        ReferenceCountUtil.release(msg);
        writeOutput(promise);
    }

    private void writeOutput(ChannelPromise promise) {
        int n = protocol.getAvailableOutputBytes();
        if (n == 0) {
            promise.trySuccess();
            return;
        }
        ByteBuf out = ctx.alloc().directBuffer(n);
        protocol.readOutput(out.nioBuffer(0, n), n);
        out.writerIndex(n);
        ctx.write(out, promise);
    }

    private void flushOutput(boolean flush) {
        if (protocol.getAvailableOutputBytes() > 0) {
            writeOutput(ctx.voidPromise());
            if (flush) {
                ctx.flush();
            }
        }
    }

    @Override
    public void flush(ChannelHandlerContext ctx) {
        if (handshakeDone) {
            ctx.flush();
        }
    }

    @Override
    public void close(ChannelHandlerContext ctx, ChannelPromise promise) {
        if (!failed && handshakeDone && !protocol.isClosed()) {
            try {
                protocol.close();  // close_notify
                flushOutput(true);
            } catch (IOException e) {
                log.debug("{}: close_notify: {}", description, e.toString());
            }
        }
        failPending(new IOException(description + ": connection closed"));
        ctx.close(promise);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        failPending(new IOException(description + ": connection closed"));
        super.channelInactive(ctx);
    }

    private void failPending(Throwable cause) {
        Object[] p;
        while ((p = pending.poll()) != null) {
            ReferenceCountUtil.release(p[0]);
            ((ChannelPromise) p[1]).tryFailure(cause);
        }
    }

    private void fail(Throwable cause) {
        if (failed) {
            return;
        }
        failed = true;
        flushOutput(true);  // an alert, if the protocol produced one
        IOException e = new IOException(description + (handshakeDone ? ": " : ": handshake failed: ") + cause.getMessage(), cause);
        failPending(e);
        ctx.fireExceptionCaught(e);
        ctx.close();
    }
}
