/**
 * Builds whole IP packets for one direction of one flow. The parts of the IPv4 header and of the
 * pseudo-header that never change (addresses, protocol) are summed once per flow, so a segment
 * costs one allocation, one copy of its payload and one pass of the checksum over it — or none,
 * when the TUN device completes TCP and UDP checksums (`deviceChecksums`: checksum offload).
 */
import { addressPairSum, finishChecksum, foldSum, sumWords } from './checksum.js';
import { PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP } from './ipPacket.js';
import { IPV4_DEFAULT_TTL, IPV4_HEADER_LENGTH } from './ipv4.js';
import { IPV6_DEFAULT_HOP_LIMIT, IPV6_HEADER_LENGTH, writeIpv6Header } from './ipv6.js';
import { writeTcpHeader, TCP_HEADER_LENGTH, tcpOptionsLength, type TcpHeaderFields } from './tcp.js';
import { UDP_HEADER_LENGTH, writeUdpHeader } from './udp.js';

/** Where segment data comes from without an intermediate copy (a send buffer of chunks). */
export interface PayloadSource {
  copyOut(target: Buffer, targetStart: number, offset: number, length: number): void;
}

/** Where a writer gets the memory of a packet (default: a new Buffer each). */
export type PacketAllocator = (size: number) => Buffer;

const newBuffer: PacketAllocator = (size) => Buffer.allocUnsafe(size);

/** The largest IP packet; bigger payloads are the caller's error. */
export const MAX_IP_PACKET = 65535;

export class PacketWriter {
  readonly version: 4 | 6;
  readonly headerLength: number;
  private readonly tcpPairSum: number;
  private readonly udpPairSum: number;
  private readonly icmpv6PairSum: number;
  /** IPv4 header with zero length, id and checksum; and its sum. */
  private readonly v4Template: Buffer | undefined;
  private readonly v4TemplateSum: number;
  private nextId: number;

  constructor(
    readonly src: Uint8Array,
    readonly dst: Uint8Array,
    idSeed = 0,
    private readonly alloc: PacketAllocator = newBuffer,
    /** TCP and UDP checksum fields are left 0 for the device to fill in (checksum offload). */
    private readonly deviceChecksums = false,
  ) {
    if (src.length !== dst.length || (src.length !== 4 && src.length !== 16)) {
      throw new TypeError('PacketWriter needs two IPv4 or two IPv6 addresses');
    }
    this.version = src.length === 4 ? 4 : 6;
    this.headerLength = this.version === 4 ? IPV4_HEADER_LENGTH : IPV6_HEADER_LENGTH;
    this.tcpPairSum = addressPairSum(src, dst, PROTO_TCP);
    this.udpPairSum = addressPairSum(src, dst, PROTO_UDP);
    this.icmpv6PairSum = addressPairSum(src, dst, PROTO_ICMPV6);
    this.nextId = idSeed & 0xffff;
    if (this.version === 4) {
      const t = Buffer.alloc(IPV4_HEADER_LENGTH);
      t[0] = 0x45;
      t[6] = 0x40; // don't fragment: we never need routers to fragment what we send into the TUN
      t[8] = IPV4_DEFAULT_TTL;
      t.set(src, 12);
      t.set(dst, 16);
      this.v4Template = t;
      this.v4TemplateSum = sumWords(t, 0, IPV4_HEADER_LENGTH);
    } else {
      this.v4Template = undefined;
      this.v4TemplateSum = 0;
    }
  }

  /** A packet of `upperLength` bytes after the IP header, with the IP header written. */
  private allocate(protocol: number, upperLength: number): Buffer {
    const total = this.headerLength + upperLength;
    if (this.version === 6 ? upperLength > 0xffff : total > MAX_IP_PACKET) {
      throw new RangeError(`packet of ${total} bytes exceeds the IP maximum`);
    }
    const buf = this.alloc(total);
    if (this.v4Template) {
      this.v4Template.copy(buf, 0);
      const id = this.nextId;
      this.nextId = (id + 1) & 0xffff;
      buf.writeUInt16BE(total, 2);
      buf.writeUInt16BE(id, 4);
      buf[9] = protocol;
      buf.writeUInt16BE(finishChecksum(this.v4TemplateSum + total + id + protocol), 10);
    } else {
      writeIpv6Header(buf, 0, { payloadLength: upperLength, nextHeader: protocol, src: this.src, dst: this.dst, hopLimit: IPV6_DEFAULT_HOP_LIMIT });
    }
    return buf;
  }

  /** A TCP segment; `payload` (if any) supplies `payloadLength` bytes from `payloadOffset`. */
  tcp(h: TcpHeaderFields, payload?: PayloadSource | Uint8Array, payloadOffset = 0, payloadLength = 0): Buffer {
    const tcpLength = TCP_HEADER_LENGTH + tcpOptionsLength(h.options) + payloadLength;
    const buf = this.allocate(PROTO_TCP, tcpLength);
    const at = this.headerLength;
    const hl = writeTcpHeader(buf, at, h);
    if (payloadLength > 0 && payload) {
      if (payload instanceof Uint8Array) buf.set(payload.subarray(payloadOffset, payloadOffset + payloadLength), at + hl);
      else payload.copyOut(buf, at + hl, payloadOffset, payloadLength);
    }
    if (this.deviceChecksums) {
      buf.writeUInt16BE(0, at + 16);
      return buf;
    }
    const sum = sumWords(buf, at, at + tcpLength, foldSum(this.tcpPairSum + tcpLength));
    buf.writeUInt16BE(finishChecksum(sum), at + 16);
    return buf;
  }

  udp(srcPort: number, dstPort: number, data: Uint8Array): Buffer {
    const udpLength = UDP_HEADER_LENGTH + data.length;
    const buf = this.allocate(PROTO_UDP, udpLength);
    const at = this.headerLength;
    writeUdpHeader(buf, at, srcPort, dstPort, udpLength);
    buf.set(data, at + UDP_HEADER_LENGTH);
    if (this.deviceChecksums) {
      buf.writeUInt16BE(0, at + 6);
      return buf;
    }
    // A computed zero is sent as all ones: zero means "no checksum" (RFC 768; mandatory in IPv6).
    const c = finishChecksum(sumWords(buf, at, at + udpLength, foldSum(this.udpPairSum + udpLength)));
    buf.writeUInt16BE(c === 0 ? 0xffff : c, at + 6);
    return buf;
  }

  /** An ICMP (IPv4) or ICMPv6 message: type, code, the 4-byte field after the checksum, then `body`. */
  icmp(type: number, code: number, rest: number, body: Uint8Array): Buffer {
    const length = 8 + body.length;
    const buf = this.allocate(this.version === 4 ? PROTO_ICMP : PROTO_ICMPV6, length);
    const at = this.headerLength;
    buf[at] = type;
    buf[at + 1] = code;
    buf[at + 2] = 0;
    buf[at + 3] = 0;
    buf.writeUInt32BE(rest >>> 0, at + 4);
    buf.set(body, at + 8);
    // ICMPv4 sums the message alone; ICMPv6 includes the pseudo-header (RFC 4443 §2.3).
    const initial = this.version === 4 ? 0 : foldSum(this.icmpv6PairSum + length);
    buf.writeUInt16BE(finishChecksum(sumWords(buf, at, at + length, initial)), at + 2);
    return buf;
  }
}
