/**
 * Integration tests run by failsafe. Filled as tiers gain servers to test against.
 */
package io.thermocline.it;
