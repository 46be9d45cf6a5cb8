package io.thermocline.tier.s3;

import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.TierException;
import io.thermocline.tier.TierUnavailableException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import software.amazon.awssdk.awscore.exception.AwsServiceException;
import software.amazon.awssdk.core.exception.ApiCallAttemptTimeoutException;
import software.amazon.awssdk.core.exception.ApiCallTimeoutException;
import software.amazon.awssdk.retries.StandardRetryStrategy;
import software.amazon.awssdk.retries.api.BackoffStrategy;
import software.amazon.awssdk.retries.api.RetryStrategy;

/**
 * When and how the S3 tier retries.
 *
 * <p><b>What is retried.</b> A request is tried again when the failure says the same request may
 * succeed later: HTTP 500, 502, 503 and 504, 429, and the S3 error codes that the S3 API reference
 * ("Error responses", List of error codes) marks as transient — {@code InternalError} ("Please
 * try again"), {@code SlowDown} and {@code ServiceUnavailable} ("Reduce your request rate"),
 * {@code RequestTimeout} (400: "Your socket connection to the server was not read from or written
 * to within the timeout period"), {@code OperationAborted} (409: "Try again"), and
 * {@code BadDigest} (400: the body did not match its checksum — corruption on the way, which
 * sending the same bytes again cures); and any I/O failure: a refused or reset connection, a
 * connection closed before the response was complete, an attempt idle for longer than
 * {@link S3TierConfig#idleTimeout()}. Everything else fails at once, with a message naming the
 * endpoint, bucket and key: 403 (bad credentials, signature, policy), 404 ({@code NoSuchKey},
 * {@code NoSuchBucket}, {@code NoSuchUpload}), 412 (the object changed under a reader), and our
 * own checksum mismatches — a mismatch is a fact about the stored bytes, not a transient state.
 *
 * <p><b>Backoff.</b> Exponential with full jitter: before retry {@code n} the wait is drawn
 * uniformly from {@code [0, min(retryMaxDelay, retryBaseDelay × 2^(n-1))]}, so that many clients
 * throttled at once do not come back in step. The same {@link BackoffStrategy} serves both layers
 * below.
 *
 * <p><b>Deadline.</b> Every request has a total budget, {@link S3TierConfig#requestDeadline()}:
 * all its attempts and the waits between them. When the budget runs out the request fails
 * (retryably — the caller may try again later), however many attempts remain; a request whose
 * answer stalls is cut at the deadline even if the idle timeout is longer.
 *
 * <p><b>Two layers, and why.</b> Requests whose bodies the SDK can replay, or that have no body
 * worth resuming — HEAD, PutObject and UploadPart (their bodies are our in-memory part buffers),
 * List, Create/Complete/AbortMultipartUpload, Delete, and the small GET of a checksum record —
 * are retried by the SDK's own {@link StandardRetryStrategy}, configured here: our predicate
 * (not the SDK's defaults), our backoff, {@code maxAttempts}, and the deadline as the SDK's
 * {@code apiCallTimeout}, which covers every attempt and backoff of one call. Its retry-quota
 * circuit breaker is off: the quota is shared by every request of the client, so a burst of
 * failures on one object would stop retries for all others, and the deadline already bounds what
 * a failing request costs.
 *
 * <p>Ranged GETs that stream their body into a file ({@link S3Download}) or into the caller's
 * buffer ({@link S3ObjectReader}) are different: when a connection resets or a body is cut short
 * in the middle, the SDK could at best send the whole range again from its first byte (its retry
 * re-runs the request unchanged), and with a transformer that completes at the first byte it does
 * not retry at all (aws-sdk-java-v2 issue 7332). So these GETs go through a client without SDK
 * retries and are retried by {@link #fetchRange}: a failure before the body is retried like any
 * other, and a failure in the middle of the body asks for the rest of the range only (still
 * pinned to the ETag seen at open). An attempt that brought new bytes does not count against
 * {@code maxAttempts} — a long range over a flaky link makes progress however often it is cut —
 * but it does count against the deadline.
 */
final class S3Retries {

    /** S3 error codes worth retrying (S3 API reference, "List of error codes"). */
    private static final Set<String> RETRYABLE_CODES = Set.of(
            "InternalError", "SlowDown", "ServiceUnavailable", "RequestTimeout", "OperationAborted", "BadDigest",
            "RequestTimeTooSkewed", "Throttling", "ThrottlingException", "RequestThrottled");
    private static final Set<String> THROTTLING_CODES = Set.of(
            "SlowDown", "Throttling", "ThrottlingException", "RequestThrottled");

    private S3Retries() {
    }

    /** The SDK retry strategy for whole requests, as described in the class comment. */
    static RetryStrategy sdkStrategy(S3TierConfig config, int maxAttempts) {
        BackoffStrategy backoff = backoff(config);
        return StandardRetryStrategy.builder()
                .maxAttempts(maxAttempts)
                .backoffStrategy(backoff)
                .throttlingBackoffStrategy(backoff)
                .retryOnException(S3Retries::retryable)
                .treatAsThrottling(S3Retries::throttling)
                .circuitBreakerEnabled(false)
                .useClientDefaults(false)
                .build();
    }

    static BackoffStrategy backoff(S3TierConfig config) {
        return BackoffStrategy.exponentialDelay(config.retryBaseDelay(), config.retryMaxDelay());
    }

    /** Whether the failure says that the same request may succeed later. */
    static boolean retryable(Throwable failure) {
        for (Throwable c = failure; c != null; c = c.getCause()) {
            if (c instanceof TierException te) {
                return te.retryable(); // ours, from a response transformer: a truncated body yes, a checksum mismatch no
            }
            if (c instanceof ApiCallTimeoutException) {
                return false; // the request's deadline: nothing is left to retry with
            }
            if (c instanceof AwsServiceException s) {
                int status = s.statusCode();
                String code = s.awsErrorDetails() == null ? null : s.awsErrorDetails().errorCode();
                return status >= 500 && status != 501 || status == 429 || (code != null && RETRYABLE_CODES.contains(code));
            }
            if (c instanceof ApiCallAttemptTimeoutException || c instanceof IOException || c instanceof UncheckedIOException
                || c instanceof java.util.concurrent.TimeoutException
                || c instanceof io.netty.handler.timeout.TimeoutException
                || c instanceof io.netty.handler.codec.PrematureChannelClosureException) {
                return true;
            }
        }
        return false;
    }

    static boolean throttling(Throwable failure) {
        for (Throwable c = failure; c != null; c = c.getCause()) {
            if (c instanceof AwsServiceException s) {
                String code = s.awsErrorDetails() == null ? null : s.awsErrorDetails().errorCode();
                return s.statusCode() == 429 || (code != null && THROTTLING_CODES.contains(code));
            }
        }
        return false;
    }

    /** One ranged GET whose body lands somewhere as it streams, and which can be resumed. */
    interface ResumableRange {
        /**
         * Starts an attempt that asks for bytes {@code from} to the range's end.
         *
         * @param timeLeft what is left of the deadline; the attempt must not take longer
         * @return completes when every byte of the attempt has landed
         */
        CompletableFuture<Void> attempt(long from, Duration timeLeft);

        /** After a failed attempt: the offset the next attempt starts from (never before the last one's). */
        long resumeAt();
    }

    /**
     * Runs attempts of {@code range} until its bytes are all in, as described in the class
     * comment; fails with the tier's exception naming {@code what}, the object and the range.
     */
    static CompletableFuture<Void> fetchRange(S3Tier tier, String what, ObjectKey key, long start, long end,
                                              ResumableRange range) {
        S3TierConfig config = tier.config();
        long deadline = System.nanoTime() + config.requestDeadline().toNanos();
        CompletableFuture<Void> result = new CompletableFuture<>();
        new Object() {
            int failuresInARow;
            int attempts;

            void run(long from) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    result.completeExceptionally(deadlineExceeded(tier, what, key, start, end, attempts, null));
                    return;
                }
                attempts++;
                CompletableFuture<Void> attempt;
                try {
                    attempt = range.attempt(from, Duration.ofNanos(left));
                } catch (RuntimeException e) {
                    attempt = CompletableFuture.failedFuture(e);
                }
                attempt.whenComplete((v, t) -> {
                    if (t == null) {
                        result.complete(null);
                        return;
                    }
                    long next = range.resumeAt();
                    if (!retryable(t)) {
                        result.completeExceptionally(TierException.unwrap(t) instanceof ApiCallTimeoutException
                                ? deadlineExceeded(tier, what, key, start, end, attempts, t)
                                : tier.translate(t, what, key, range(start, end), attempts));
                        return;
                    }
                    failuresInARow = next > from ? 1 : failuresInARow + 1;
                    if (failuresInARow >= config.maxAttempts()) {
                        result.completeExceptionally(tier.translate(t, what, key, range(start, end), attempts));
                        return;
                    }
                    long delay = backoff(config).computeDelay(failuresInARow).toNanos();
                    if (System.nanoTime() + delay >= deadline) {
                        result.completeExceptionally(deadlineExceeded(tier, what, key, start, end, attempts, t));
                        return;
                    }
                    S3Tier.log.debug("{} of {} {}: attempt {} failed ({}), retrying from {} in {} ms", what,
                            tier.where(key), range(start, end), attempts, TierException.unwrap(t).toString(), next, delay / 1_000_000);
                    CompletableFuture.delayedExecutor(delay, TimeUnit.NANOSECONDS, tier.executor()).execute(() -> run(next));
                });
            }
        }.run(start);
        return result;
    }

    static String range(long start, long end) {
        return "bytes " + start + "-" + (end - 1);
    }

    private static TierUnavailableException deadlineExceeded(S3Tier tier, String what, ObjectKey key, long start, long end,
                                                             int attempts, Throwable last) {
        Throwable cause = last == null ? null : TierException.unwrap(last);
        return new TierUnavailableException(what + " of " + tier.where(key) + " " + range(start, end)
                + " did not complete within the request deadline of " + tier.config().requestDeadline() + " ("
                + attempts + (attempts == 1 ? " attempt" : " attempts")
                + (cause == null ? "" : "; last failure: " + S3Tier.describe(cause)) + ")", true, cause);
    }
}
