/**
 * Placement policy and trace simulator. Filled by the engine issue.
 */
package io.thermocline.placement;
