package io.thermocline.tier.s3;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.PrematureChannelClosureException;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.timeout.ReadTimeoutHandler;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.SSLException;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.awscore.exception.AwsErrorDetails;
import software.amazon.awssdk.core.exception.ApiCallTimeoutException;
import software.amazon.awssdk.http.SdkHttpMethod;
import software.amazon.awssdk.http.SdkHttpRequest;
import software.amazon.awssdk.http.auth.aws.signer.AwsV4HttpSigner;
import software.amazon.awssdk.http.auth.spi.signer.SignedRequest;
import software.amazon.awssdk.identity.spi.AwsCredentialsIdentity;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.utils.http.SdkHttpUtils;

/**
 * Ranged GETs on plain Netty HTTP/1.1, signed with the SDK's SigV4 signer, whose body buffers are
 * handed to a {@link Body} as Netty delivers them: no copy into heap arrays, no reactive-streams
 * round trip per buffer. Used by {@link S3Download} for endpoints addressed path-style (every
 * S3-compatible server given as {@link S3TierConfig#endpoint()}); the SDK client serves the rest.
 *
 * <p>Failures look like the SDK's, so {@link S3Retries} and {@link S3Tier#translate} treat them
 * alike: an error response becomes an {@link S3Exception} with its status and S3 error code; a
 * connection that fails or closes early an {@link IOException} or
 * {@link PrematureChannelClosureException}; silence for {@link S3TierConfig#idleTimeout()} Netty's
 * {@code ReadTimeoutException}; the attempt's deadline an {@link ApiCallTimeoutException}.
 *
 * <p>Connections are kept alive and reused; one that fails is closed.
 */
final class S3RangeGetter {

    /** Receives one response body. Every method runs on the connection's event loop and must not block. */
    interface Body {
        /** A piece of the body, in order; the callee owns (and releases) {@code data}. */
        void onData(ByteBuf data, Flow flow);

        /** The body ended as the response said it would. */
        void onEnd();

        /** The attempt failed; nothing follows. */
        void onError(Throwable t);
    }

    /** Read pacing of a connection, from any thread. */
    interface Flow {
        void pause();

        void resume();

        /** Gives up on the response: the connection is closed and the body gets no more calls. */
        void cancel();
    }

    private static final Pattern CODE = Pattern.compile("<Code>([^<]*)</Code>");
    private static final Pattern MESSAGE = Pattern.compile("<Message>([^<]*)</Message>");
    private static final int MAX_ERROR_BODY = 64 << 10;

    private final S3TierConfig config;
    private final URI endpoint;
    private final String hostHeader;
    private final AwsCredentialsProvider credentials;
    private final AwsV4HttpSigner signer = AwsV4HttpSigner.create();
    private final Bootstrap bootstrap;
    private final ConcurrentLinkedDeque<Channel> idle = new ConcurrentLinkedDeque<>();

    private S3RangeGetter(S3TierConfig config, URI endpoint, EventLoopGroup group, AwsCredentialsProvider credentials) {
        this.config = config;
        this.endpoint = endpoint;
        this.credentials = credentials;
        boolean https = "https".equalsIgnoreCase(endpoint.getScheme());
        int port = endpoint.getPort() > 0 ? endpoint.getPort() : https ? 443 : 80;
        this.hostHeader = endpoint.getHost() + (endpoint.getPort() > 0 ? ":" + endpoint.getPort() : "");
        SslContext ssl;
        try {
            ssl = https ? SslContextBuilder.forClient().build() : null;
        } catch (SSLException e) {
            throw new IllegalStateException("cannot set up TLS for " + endpoint + ": " + e, e);
        }
        this.bootstrap = new Bootstrap().group(group).channel(NioSocketChannel.class)
                .remoteAddress(endpoint.getHost(), port)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.ALLOCATOR, io.netty.buffer.PooledByteBufAllocator.DEFAULT)

                .option(ChannelOption.SO_KEEPALIVE, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, config.idleTimeout().toMillis()))
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        if (ssl != null) {
                            ch.pipeline().addLast(ssl.newHandler(ch.alloc(), endpoint.getHost(), port));
                        }
                        ch.pipeline().addLast(new HttpClientCodec(4096, 16 << 10, 1 << 20));
                    }
                });
    }

    /** Tests set this to open tiers whose downloads go through the SDK client, as they do on AWS. */
    static volatile boolean disabledForTests;

    /** A getter for {@code config}'s endpoint, or null when it is not addressed path-style at an http(s) URL. */
    static S3RangeGetter forConfig(S3TierConfig config, EventLoopGroup group, AwsCredentialsProvider credentials) {
        URI endpoint = config.endpoint().orElse(null);
        if (disabledForTests || endpoint == null || !config.pathStyle() || endpoint.getHost() == null
            || !("http".equalsIgnoreCase(endpoint.getScheme()) || "https".equalsIgnoreCase(endpoint.getScheme()))
            || (endpoint.getRawQuery() != null)) {
            return null;
        }
        return new S3RangeGetter(config, endpoint, group, credentials);
    }

    /**
     * GETs bytes {@code from} to {@code toExclusive} of {@code s3Key}, on condition that its ETag
     * is still {@code eTag}, into {@code body}; the attempt fails if it is not over within
     * {@code timeLeft}.
     */
    void get(String s3Key, long from, long toExclusive, String eTag, Duration timeLeft, Body body) {
        SdkHttpRequest signed;
        try {
            signed = sign(s3Key, from, toExclusive, eTag);
        } catch (RuntimeException e) {
            body.onError(e);
            return;
        }
        Exchange exchange = new Exchange(signed, body, timeLeft);
        Channel pooled;
        while ((pooled = idle.pollLast()) != null) {
            if (pooled.isActive()) {
                exchange.start(pooled, true);
                return;
            }
        }
        exchange.connect();
    }

    private SdkHttpRequest sign(String s3Key, long from, long toExclusive, String eTag) {
        String basePath = endpoint.getRawPath() == null || endpoint.getRawPath().equals("/") ? "" : endpoint.getRawPath();
        SdkHttpRequest request = SdkHttpRequest.builder()
                .method(SdkHttpMethod.GET)
                .protocol(endpoint.getScheme())
                .host(endpoint.getHost())
                .port(endpoint.getPort() > 0 ? endpoint.getPort() : null)
                .encodedPath(basePath + "/" + SdkHttpUtils.urlEncodeIgnoreSlashes(config.bucket()) + "/"
                             + SdkHttpUtils.urlEncodeIgnoreSlashes(s3Key))
                .putHeader("Range", "bytes=" + from + "-" + (toExclusive - 1))
                .putHeader("If-Match", eTag)
                .build();
        AwsCredentialsIdentity identity = credentials.resolveIdentity().join();
        SignedRequest signedRequest = signer.sign(r -> r.identity(identity).request(request)
                .putProperty(AwsV4HttpSigner.SERVICE_SIGNING_NAME, "s3")
                .putProperty(AwsV4HttpSigner.REGION_NAME, config.region())
                .putProperty(AwsV4HttpSigner.DOUBLE_URL_ENCODE, false)
                .putProperty(AwsV4HttpSigner.NORMALIZE_PATH, false)
                .putProperty(AwsV4HttpSigner.PAYLOAD_SIGNING_ENABLED, false));
        return signedRequest.request();
    }

    /** Closes the idle connections; the event loops belong to the tier. */
    void close() {
        Channel c;
        while ((c = idle.poll()) != null) {
            c.close();
        }
    }

    /** One attempt: a request and its response on one connection. */
    private final class Exchange extends SimpleChannelInboundHandler<HttpObject> implements Flow {
        private final SdkHttpRequest request;
        private final Body body;
        private final Duration timeLeft;
        private Channel channel;
        private boolean reused;
        private boolean done;
        private int status;
        private boolean keepAlive;
        private CompositeByteBuf errorBody;
        private io.netty.util.concurrent.ScheduledFuture<?> deadline;

        Exchange(SdkHttpRequest request, Body body, Duration timeLeft) {
            super(false);
            this.request = request;
            this.body = body;
            this.timeLeft = timeLeft;
        }

        void connect() {
            ChannelFuture f = bootstrap.connect();
            f.addListener(x -> {
                if (x.isSuccess()) {
                    start(f.channel(), false);
                } else {
                    Throwable cause = x.cause();
                    body.onError(cause instanceof IOException ? cause : new IOException("cannot connect to " + endpoint + ": " + cause, cause));
                }
            });
        }

        void start(Channel ch, boolean reused) {
            this.channel = ch;
            this.reused = reused;
            ch.eventLoop().execute(() -> {
                ch.pipeline().addLast("timeout", new ReadTimeoutHandler(config.idleTimeout().toNanos(), TimeUnit.NANOSECONDS));
                ch.pipeline().addLast("exchange", this);
                deadline = ch.eventLoop().schedule(() -> fail(ApiCallTimeoutException.create(timeLeft.toMillis()), true),
                        timeLeft.toNanos(), TimeUnit.NANOSECONDS);
                DefaultFullHttpRequest req = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET,
                        request.encodedPath());
                req.headers().set(HttpHeaderNames.HOST, hostHeader);
                for (Map.Entry<String, List<String>> h : request.headers().entrySet()) {
                    if (!h.getKey().equalsIgnoreCase("Host")) {
                        req.headers().set(h.getKey(), h.getValue());
                    }
                }
                req.headers().set(HttpHeaderNames.CONTENT_LENGTH, 0);
                ch.writeAndFlush(req).addListener(w -> {
                    if (!w.isSuccess()) {
                        fail(w.cause(), true);
                    }
                });
            });
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, HttpObject msg) {
            if (done) {
                io.netty.util.ReferenceCountUtil.release(msg);
                return;
            }
            if (msg instanceof HttpResponse response) {
                status = response.status().code();
                keepAlive = HttpUtil.isKeepAlive(response);
                if (!response.decoderResult().isSuccess()) {
                    fail(new IOException("malformed response from " + endpoint + ": " + response.decoderResult().cause()), true);
                    return;
                }
                if (status != 200 && status != 206) {
                    errorBody = ctx.alloc().compositeBuffer();
                }
            }
            if (msg instanceof HttpContent content) {
                ByteBuf data = content.content();
                boolean last = content instanceof LastHttpContent;
                if (errorBody != null) {
                    if (errorBody.readableBytes() < MAX_ERROR_BODY) {
                        errorBody.addComponent(true, data);
                    } else {
                        data.release();
                    }
                    if (last) {
                        S3Exception e = error(errorBody);
                        errorBody.release();
                        errorBody = null;
                        finish(keepAlive);
                        body.onError(e);
                    }
                    return;
                }
                if (data.isReadable()) {
                    body.onData(data, this);
                } else {
                    data.release();
                }
                if (last) {
                    finish(keepAlive);
                    body.onEnd();
                }
            } else if (!(msg instanceof HttpResponse)) {
                io.netty.util.ReferenceCountUtil.release(msg);
            }
        }

        private S3Exception error(ByteBuf content) {
            String text = content.toString(StandardCharsets.UTF_8);
            Matcher code = CODE.matcher(text);
            Matcher message = MESSAGE.matcher(text);
            String c = code.find() ? code.group(1) : null;
            String m = message.find() ? message.group(1) : "HTTP " + status;
            return (S3Exception) S3Exception.builder().statusCode(status).message(m + " (Status Code: " + status + ")")
                    .awsErrorDetails(AwsErrorDetails.builder().errorCode(c).errorMessage(m).serviceName("S3").build())
                    .build();
        }

        /** The exchange is over: the connection goes back to the pool or is closed. */
        private void finish(boolean reuse) {
            done = true;
            if (deadline != null) {
                deadline.cancel(false);
            }
            Channel ch = channel;
            if (ch.pipeline().context(this) != null) {
                ch.pipeline().remove(this);
            }
            if (ch.pipeline().get("timeout") != null) {
                ch.pipeline().remove("timeout");
            }
            ch.config().setAutoRead(true);
            if (reuse && ch.isActive()) {
                idle.add(ch);
            } else {
                ch.close();
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            fail(new PrematureChannelClosureException("the connection to " + endpoint + " closed before the response was complete"),
                    false);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            fail(cause, true);
        }

        /** A pooled connection the server had closed: once more on a new one, not counted as a failure. */
        private void retryFresh() {
            done = true;
            if (deadline != null) {
                deadline.cancel(false);
            }
            channel.close();
            new Exchange(request, body, timeLeft).connect();
        }

        private void fail(Throwable t, boolean close) {
            if (done) {
                return;
            }
            if (status == 0 && reused && (t instanceof IOException || t instanceof PrematureChannelClosureException)) {
                retryFresh();
                return;
            }
            done = true;
            if (deadline != null) {
                deadline.cancel(false);
            }
            if (errorBody != null) {
                errorBody.release();
                errorBody = null;
            }
            channel.close();
            body.onError(t instanceof Exception ? t : new IOException(t.toString(), t));
        }

        @Override
        public void pause() {
            Channel ch = channel;
            if (ch.eventLoop().inEventLoop()) {
                ch.config().setAutoRead(false);
            } else {
                ch.eventLoop().execute(() -> {
                    if (!done) {
                        ch.config().setAutoRead(false);
                    }
                });
            }
        }

        @Override
        public void cancel() {
            Channel ch = channel;
            ch.eventLoop().execute(() -> {
                if (!done) {
                    done = true;
                    if (deadline != null) {
                        deadline.cancel(false);
                    }
                    if (errorBody != null) {
                        errorBody.release();
                        errorBody = null;
                    }
                    ch.close();
                }
            });
        }

        @Override
        public void resume() {
            Channel ch = channel;
            ch.eventLoop().execute(() -> {
                if (!done) {
                    ch.config().setAutoRead(true);
                }
            });
        }
    }
}
