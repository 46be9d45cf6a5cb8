package io.thermocline.tier.s3;

import io.thermocline.tier.InvalidArgumentException;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectReader;
import io.thermocline.tier.TierException;
import io.thermocline.tier.TierIoException;
import io.thermocline.tier.TierUnavailableException;
import io.thermocline.tier.support.BufferPool;
import io.thermocline.tier.support.VerifiedReader;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.RejectedExecutionException;
import org.reactivestreams.Subscriber;
import org.reactivestreams.Subscription;
import software.amazon.awssdk.core.async.AsyncResponseTransformer;
import software.amazon.awssdk.core.async.SdkPublisher;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;

/**
 * Reads one version of an S3 object (pinned by ETag) with ranged GETs, verified chunk by chunk.
 * Each GET covers what the verifier asks for (at most a chunk) and its body lands straight in the
 * buffer being verified, so memory stays bounded by the chunk size. A GET cut short is resumed
 * after the bytes already received (see {@link S3Retries}).
 */
final class S3ObjectReader implements ObjectReader {

    private final S3Tier tier;
    private final ObjectInfo info;
    private final String eTag;
    private final VerifiedReader verified;
    private volatile boolean closed;

    S3ObjectReader(S3Tier tier, ObjectInfo info, String eTag) {
        this.tier = tier;
        this.info = info;
        this.eTag = eTag;
        this.verified = new VerifiedReader(info, tier.where(info.key()), this::rangedGet, BufferPool.heap());
    }

    @Override
    public ObjectInfo info() {
        return info;
    }

    /**
     * Fills {@code dst} with the object's bytes from {@code position} (at most to the end): one
     * ranged GET, its body copied straight into {@code dst} as it arrives, retried and resumed
     * after the bytes already in by {@link S3Retries#fetchRange}. Blocking (a virtual thread).
     */
    private int rangedGet(long position, ByteBuffer dst) {
        if (position >= info.sizeInBytes()) {
            return -1;
        }
        long end = Math.min(position + dst.remaining(), info.sizeInBytes());
        int base = dst.position();
        try {
            S3Retries.fetchRange(tier, "read", info.key(), position, end, new S3Retries.ResumableRange() {
                private volatile ToBuffer current;
                private volatile long from = position;

                @Override
                public CompletableFuture<Void> attempt(long from, Duration timeLeft) {
                    this.from = from;
                    ToBuffer sink = new ToBuffer(dst, base + (int) (from - position), (int) (end - from));
                    current = sink;
                    return tier.rangeClient().getObject(b -> b.bucket(tier.config().bucket()).key(tier.s3Key(info.key()))
                            .range("bytes=" + from + "-" + (end - 1)).ifMatch(eTag)
                            .overrideConfiguration(o -> o.apiCallTimeout(timeLeft)), sink);
                }

                @Override
                public long resumeAt() {
                    ToBuffer sink = current;
                    return from + (sink == null ? 0 : sink.received());
                }
            }).join();
        } catch (CompletionException e) {
            throw tier.translate(e, "read", info.key());
        }
        int n = (int) (end - position);
        dst.position(base + n);
        return n;
    }

    /**
     * Copies one attempt's body into {@code dst} at absolute indices, on the event loop (a copy of
     * at most a chunk, no blocking). After a failure it ignores anything that still arrives, so
     * {@link #received()} is where the next attempt takes over.
     */
    private static final class ToBuffer implements AsyncResponseTransformer<GetObjectResponse, Void> {
        private final ByteBuffer dst;
        private final int index;
        private final int length;
        private CompletableFuture<Void> result;
        private int received;
        private boolean done;
        private Subscription subscription;

        ToBuffer(ByteBuffer dst, int index, int length) {
            this.dst = dst;
            this.index = index;
            this.length = length;
        }

        synchronized int received() {
            return received;
        }

        @Override
        public synchronized CompletableFuture<Void> prepare() {
            result = new CompletableFuture<>();
            received = 0;
            done = false;
            return result;
        }

        @Override
        public void onResponse(GetObjectResponse response) {
        }

        @Override
        public void onStream(SdkPublisher<ByteBuffer> publisher) {
            publisher.subscribe(new Subscriber<ByteBuffer>() {
                @Override
                public void onSubscribe(Subscription s) {
                    synchronized (ToBuffer.this) {
                        subscription = s;
                    }
                    s.request(Long.MAX_VALUE); // each buffer is copied at once: nothing queues up
                }

                @Override
                public void onNext(ByteBuffer buffer) {
                    synchronized (ToBuffer.this) {
                        if (done) {
                            return;
                        }
                        int n = buffer.remaining();
                        if (n > length - received) {
                            fail(new TierIoException("the server sent more than the " + length + " bytes asked for", true));
                            return;
                        }
                        dst.put(index + received, buffer, buffer.position(), n);
                        received += n;
                    }
                }

                @Override
                public void onError(Throwable t) {
                    exceptionOccurred(t);
                }

                @Override
                public void onComplete() {
                    synchronized (ToBuffer.this) {
                        if (done) {
                            return;
                        }
                        if (received < length) {
                            fail(new TierIoException("the body ended after " + received + " of " + length + " bytes (truncated)", true));
                            return;
                        }
                        done = true;
                        result.complete(null);
                    }
                }
            });
        }

        private void fail(Throwable t) {
            done = true;
            result.completeExceptionally(t);
            if (subscription != null) {
                subscription.cancel();
            }
        }

        @Override
        public synchronized void exceptionOccurred(Throwable error) {
            if (result != null && !done) {
                fail(error);
            }
        }
    }

    @Override
    public CompletableFuture<Integer> read(long position, ByteBuffer dst) {
        if (position < 0) {
            return CompletableFuture.failedFuture(InvalidArgumentException.of("position", position, ">= 0"));
        }
        if (closed) {
            return CompletableFuture.failedFuture(new TierUnavailableException("reader of " + info.key() + " is closed", false));
        }
        CompletableFuture<Integer> result = new CompletableFuture<>();
        try {
            tier.executor().execute(() -> {
                try {
                    result.complete(verified.read(position, dst));
                } catch (Throwable t) {
                    result.completeExceptionally(t instanceof TierException ? t : tier.translate(t, "read", info.key()));
                }
            });
        } catch (RejectedExecutionException e) {
            result.completeExceptionally(new TierUnavailableException("tier " + tier.name() + " is closed", false, e));
        }
        return result;
    }

    @Override
    public void close() {
        closed = true;
    }
}
