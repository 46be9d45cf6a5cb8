/**
 * The tier engine. Filled by the engine issue.
 */
package io.thermocline.engine;
