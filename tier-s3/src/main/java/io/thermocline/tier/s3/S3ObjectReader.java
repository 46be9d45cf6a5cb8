package io.thermocline.tier.s3;

import io.thermocline.tier.InvalidArgumentException;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectReader;
import io.thermocline.tier.TierException;
import io.thermocline.tier.TierUnavailableException;
import io.thermocline.tier.support.BufferPool;
import io.thermocline.tier.support.VerifiedReader;
import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import software.amazon.awssdk.core.ResponseBytes;
import software.amazon.awssdk.core.async.AsyncResponseTransformer;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;

/**
 * Reads one version of an S3 object (pinned by ETag) with ranged GETs, verified chunk by chunk.
 * Each GET covers what the verifier asks for (at most a chunk), so memory stays bounded by the
 * chunk size.
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

    private int rangedGet(long position, ByteBuffer dst) {
        if (position >= info.sizeInBytes()) {
            return -1;
        }
        long last = Math.min(position + dst.remaining(), info.sizeInBytes()) - 1;
        ResponseBytes<GetObjectResponse> bytes;
        try {
            bytes = tier.client().getObject(b -> b.bucket(tier.config().bucket()).key(tier.s3Key(info.key()))
                    .range("bytes=" + position + "-" + last).ifMatch(eTag), AsyncResponseTransformer.toBytes()).join();
        } catch (RuntimeException e) {
            throw tier.translate(e, "read", info.key());
        }
        ByteBuffer body = bytes.asByteBuffer();
        int n = Math.min(body.remaining(), dst.remaining());
        dst.put(body.limit(body.position() + n));
        return n;
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
