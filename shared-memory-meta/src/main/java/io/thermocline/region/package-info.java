/**
 * The cross-process shared region. Filled by the shared-region issue.
 */
package io.thermocline.region;
