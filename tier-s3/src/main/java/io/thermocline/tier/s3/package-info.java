/**
 * The OBJECT tier over S3 and S3-compatible servers, and {@link io.thermocline.tier.s3.EmbeddedS3Server},
 * an S3-compatible server in process for the demo, the quick start and the tests.
 */
package io.thermocline.tier.s3;
