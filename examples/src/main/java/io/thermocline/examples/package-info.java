/**
 * Examples. Filled by the CLI and examples issue.
 */
package io.thermocline.examples;
