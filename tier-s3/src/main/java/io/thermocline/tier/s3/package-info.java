/**
 * The OBJECT tier over S3. Filled by the S3 tier issue.
 */
package io.thermocline.tier.s3;
