#!/usr/bin/perl
# Relay that qemu's user-mode network starts for each guest connection to a guestfwd address
# (guestfwd=tcp:10.0.2.100:PORT-cmd:perl guestfwd-relay.pl HOSTPORT). Its standard input and output
# are qemu's end of that one guest connection; it connects to 127.0.0.1:HOSTPORT and copies bytes
# both ways until both sides have closed.
#
# Why not socat: qemu writes each TCP segment it receives from the guest as a separate write on
# this socket, with Nagle's algorithm on, so a request larger than one segment (an NVMe/TCP write
# command with its data) waits for the acknowledgement of its first segment, which the kernel
# delays by 40 ms. Asking for a quick acknowledgement after every read lets the rest through at once.
use strict;
use warnings;
use Socket qw(AF_INET SOCK_STREAM IPPROTO_TCP TCP_NODELAY SHUT_WR inet_aton pack_sockaddr_in);
use IO::Select;

open(STDERR, '>', '/dev/null');
my $port = $ARGV[0];
exit 2 unless defined $port && $port =~ /^\d+$/ && $port > 0 && $port < 65536;

my $TCP_QUICKACK = 12;
my $guest_in = \*STDIN;
my $guest_out = \*STDOUT;
binmode($guest_in);
binmode($guest_out);

socket(my $host, AF_INET, SOCK_STREAM, 0) or exit 1;
connect($host, pack_sockaddr_in($port, inet_aton('127.0.0.1'))) or exit 1;
setsockopt($host, IPPROTO_TCP, TCP_NODELAY, 1);
setsockopt($guest_out, IPPROTO_TCP, TCP_NODELAY, 1);

sub write_all {
  my ($fh, $data) = @_;
  my $offset = 0;
  while ($offset < length($data)) {
    my $written = syswrite($fh, $data, length($data) - $offset, $offset);
    return 0 unless defined $written;
    $offset += $written;
  }
  return 1;
}

my $select = IO::Select->new($guest_in, $host);
my $guest_open = 1;
my $host_open = 1;
while ($guest_open || $host_open) {
  for my $ready ($select->can_read()) {
    my $buffer;
    my $read = sysread($ready, $buffer, 65536);
    if ($ready == $guest_in) {
      if (!$read) {
        $guest_open = 0;
        $select->remove($guest_in);
        shutdown($host, SHUT_WR);
        next;
      }
      setsockopt($guest_in, IPPROTO_TCP, $TCP_QUICKACK, 1);
      write_all($host, $buffer) or exit 1;
    } else {
      if (!$read) {
        $host_open = 0;
        $select->remove($host);
        shutdown($guest_out, SHUT_WR);
        next;
      }
      setsockopt($host, IPPROTO_TCP, $TCP_QUICKACK, 1);
      write_all($guest_out, $buffer) or exit 1;
    }
  }
}
exit 0;
