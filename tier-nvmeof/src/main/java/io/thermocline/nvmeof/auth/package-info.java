/**
 * In-band authentication and transport security for NVMe over Fabrics.
 *
 * <p><b>DH-HMAC-CHAP</b> (NVMe Base 2.0 §8.13, TP8006): {@link io.thermocline.nvmeof.auth.DhchapSecret}
 * reads and writes nvme-cli's {@code DHHC-1:xx:...:} secrets and transforms them;
 * {@link io.thermocline.nvmeof.auth.Dhchap} computes responses, augmented challenges and the
 * RFC 7919 Diffie-Hellman exchange of {@link io.thermocline.nvmeof.auth.DhGroup};
 * {@link io.thermocline.nvmeof.auth.AuthMessage} encodes and decodes the messages;
 * {@link io.thermocline.nvmeof.auth.DhchapHostSession} and
 * {@link io.thermocline.nvmeof.auth.DhchapControllerSession} are the two sides of a transaction on
 * one queue, which the user-space host and the target drive through Authentication Send and
 * Receive after a Connect whose response sets AUTHREQ.ATR.
 */
package io.thermocline.nvmeof.auth;
