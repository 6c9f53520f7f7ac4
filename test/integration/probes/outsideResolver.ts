/**
 * The workstation's "original" resolver for connect.test.ts: runs in the workstation namespace
 * on 127.0.0.1:53 (the nameserver its resolv.conf names) and answers A queries for names under
 * outside.test with 192.0.2.77 (TEST-NET-1: never contacted), NXDOMAIN for anything else.
 */
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';

const socket = dgram.createSocket('udp4');
socket.on('message', (msg, rinfo) => {
  let query: dnsPacket.Packet;
  try {
    query = dnsPacket.decode(msg);
  } catch {
    return;
  }
  const q = query.questions?.[0];
  const ours = !!q && /(^|\.)outside\.test\.?$/i.test(q.name);
  const reply = dnsPacket.encode({
    type: 'response',
    id: query.id,
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (ours ? 0 : 3),
    questions: query.questions,
    answers: ours && q.type === 'A' ? [{ type: 'A', name: q.name, ttl: 5, data: '192.0.2.77' }] : [],
  });
  socket.send(reply, rinfo.port, rinfo.address);
});
socket.bind(53, '127.0.0.1', () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => socket.close(() => process.exit(0)));
