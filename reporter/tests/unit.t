#!/usr/bin/perl
# Runs the C unit tests (TAP) built next to the binary under test: build/reporter-unit for
# build/linkreport, build/asan/reporter-unit for build/asan/linkreport.
use strict;
use warnings;
use File::Basename qw(dirname);
use File::Spec;

my $root = File::Spec->rel2abs(dirname(__FILE__) . '/../..');
my $bin = File::Spec->rel2abs($ENV{LINKREPORT_BIN} // "$root/build/linkreport");
my $unit = dirname($bin) . '/reporter-unit';
unless (-x $unit) {
    print "1..1\nnot ok 1 - $unit is built (make -C reporter unit / asan)\n";
    exit 1;
}
exec $unit or die "cannot exec $unit: $!";
