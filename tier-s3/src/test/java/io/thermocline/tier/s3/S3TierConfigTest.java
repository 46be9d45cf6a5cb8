package io.thermocline.tier.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.thermocline.tier.InvalidArgumentException;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.awscore.exception.AwsErrorDetails;
import software.amazon.awssdk.core.exception.ApiCallTimeoutException;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.services.s3.model.S3Exception;

class S3TierConfigTest {

    @Test
    void retryAndChecksumSettings_haveTheDocumentedDefaults_andSurviveToBuilder() {
        S3TierConfig c = S3TierConfig.builder("models").build();
        assertEquals(5, c.maxAttempts());
        assertEquals(Duration.ofMillis(100), c.retryBaseDelay());
        assertEquals(Duration.ofSeconds(20), c.retryMaxDelay());
        assertEquals(Duration.ofMinutes(5), c.requestDeadline());
        assertEquals(Duration.ofSeconds(30), c.idleTimeout());
        assertEquals(S3TierConfig.AdditionalChecksums.WHEN_SUPPORTED, c.additionalChecksums());
        S3TierConfig other = c.toBuilder().maxAttempts(2).retryBaseDelay(Duration.ofMillis(5)).retryMaxDelay(Duration.ofMillis(50))
                .requestDeadline(Duration.ofSeconds(9)).idleTimeout(Duration.ofSeconds(3))
                .additionalChecksums(S3TierConfig.AdditionalChecksums.OFF).build().toBuilder().build();
        assertEquals(2, other.maxAttempts());
        assertEquals(Duration.ofMillis(5), other.retryBaseDelay());
        assertEquals(Duration.ofMillis(50), other.retryMaxDelay());
        assertEquals(Duration.ofSeconds(9), other.requestDeadline());
        assertEquals(Duration.ofSeconds(3), other.idleTimeout());
        assertEquals(S3TierConfig.AdditionalChecksums.OFF, other.additionalChecksums());
        assertThat(other.toString()).contains("maxAttempts=2", "requestDeadline=PT9S", "additionalChecksums=OFF");
    }

    @Test
    void invalidRetrySettings_areRejectedByName() {
        S3TierConfig.Builder b = S3TierConfig.builder("models");
        assertThatThrownBy(() -> b.maxAttempts(0).build()).isInstanceOf(InvalidArgumentException.class).hasMessageContaining("maxAttempts: 0");
        b.maxAttempts(3);
        assertThatThrownBy(() -> b.requestDeadline(Duration.ZERO).build()).hasMessageContaining("requestDeadline: PT0S");
        b.requestDeadline(Duration.ofSeconds(1));
        assertThatThrownBy(() -> b.idleTimeout(Duration.ofSeconds(-1)).build()).hasMessageContaining("idleTimeout: PT-1S");
        b.idleTimeout(Duration.ofSeconds(1));
        assertThatThrownBy(() -> b.retryBaseDelay(Duration.ofSeconds(2)).retryMaxDelay(Duration.ofSeconds(1)).build())
                .hasMessageContaining("retryMaxDelay: PT1S (expected: at least retryBaseDelay (PT2S))");
    }

    @Test
    void abandonedUploadAge_defaultsToADay_survivesToBuilder_andIsBounded() {
        S3TierConfig c = S3TierConfig.builder("models").build();
        assertEquals(Duration.ofDays(1), c.abandonedUploadAge());
        S3TierConfig week = c.toBuilder().abandonedUploadAge(Duration.ofDays(7)).build().toBuilder().build();
        assertEquals(Duration.ofDays(7), week.abandonedUploadAge());
        assertThat(week.toString()).contains("abandonedUploadAge=PT168H");
        S3TierConfig.Builder b = S3TierConfig.builder("models");
        assertThatThrownBy(() -> b.abandonedUploadAge(Duration.ofSeconds(59)).build()).isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("abandonedUploadAge: PT59S (expected: 1 minute to 365 days)");
        assertThatThrownBy(() -> b.abandonedUploadAge(Duration.ofDays(366)).build()).hasMessageContaining("abandonedUploadAge: PT8784H");
    }

    private static S3Exception s3(int status, String code) {
        return (S3Exception) S3Exception.builder().statusCode(status)
                .awsErrorDetails(AwsErrorDetails.builder().errorCode(code).build()).build();
    }

    @Test
    void retryable_followsTheS3ErrorCodes() {
        for (S3Exception e : new S3Exception[] {s3(500, "InternalError"), s3(503, "SlowDown"), s3(503, "ServiceUnavailable"),
                s3(400, "RequestTimeout"), s3(400, "BadDigest"), s3(409, "OperationAborted"), s3(429, null), s3(502, null), s3(504, null)}) {
            assertThat(S3Retries.retryable(e)).as("%d %s", e.statusCode(), e.awsErrorDetails().errorCode()).isTrue();
        }
        for (S3Exception e : new S3Exception[] {s3(403, "AccessDenied"), s3(403, "SignatureDoesNotMatch"), s3(403, "InvalidAccessKeyId"),
                s3(404, "NoSuchKey"), s3(404, "NoSuchBucket"), s3(404, "NoSuchUpload"), s3(412, "PreconditionFailed"),
                s3(400, "InvalidArgument"), s3(501, "NotImplemented")}) {
            assertThat(S3Retries.retryable(e)).as("%d %s", e.statusCode(), e.awsErrorDetails().errorCode()).isFalse();
        }
        assertThat(S3Retries.retryable(SdkClientException.create("unable to execute", new java.net.SocketException("Connection reset")))).isTrue();
        assertThat(S3Retries.retryable(new java.util.concurrent.CompletionException(new java.io.IOException("closed")))).isTrue();
        assertThat(S3Retries.retryable(ApiCallTimeoutException.create(1000))).isFalse();
        assertThat(S3Retries.retryable(new IllegalStateException("a bug"))).isFalse();
        assertThat(S3Retries.throttling(s3(503, "SlowDown"))).isTrue();
        assertThat(S3Retries.throttling(s3(500, "InternalError"))).isFalse();
    }
}
