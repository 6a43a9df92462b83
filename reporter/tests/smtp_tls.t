#!/usr/bin/perl
# SMTP over TLS for real, against aiosmtpd on loopback with certificates made here:
# STARTTLS + AUTH (PLAIN and LOGIN, TLS required before AUTH and AUTH before MAIL), a wrong
# password (refused, recorded, retried, never printed), implicit TLS (smtps://), and
# certificates that must be refused: another self-signed one, the right CA but the wrong
# host name, no CA file (system CAs). The sink records next to each saved message whether
# the session was TLS and who authenticated, and logs every AUTH attempt.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Temp qw(tempdir);
use IPC::Run ();
use JSON::PP ();
use Test::More;
use LRTest;
use LRMail;

my $certs = tempdir(CLEANUP => 1);
sub make_cert {
    my ($name, $cn, $san) = @_;
    my ($out, $err) = ('', '');
    IPC::Run::run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', "/CN=$cn",
                   '-days', '1', '-addext', "subjectAltName=$san",
                   '-keyout', "$certs/$name.key", '-out', "$certs/$name.crt"], \(my $in = ''), \$out, \$err)
        or die "openssl req failed: $err";
    return ["$certs/$name.crt", "$certs/$name.key"];
}
my $good = make_cert('good', 'localhost', 'DNS:localhost,IP:127.0.0.1');
my $rogue = make_cert('rogue', 'localhost', 'DNS:localhost,IP:127.0.0.1');   # same names, not trusted
my $wrong_name = make_cert('wrong', 'mail.elsewhere.example', 'DNS:mail.elsewhere.example');

setup_isolated('smtp_tls');
my $reports = tempdir(CLEANUP => 1);
my %base = mail_env(0, $reports);
delete @base{qw(LINKREPORT_SMTP_URL LINKREPORT_SMTP_TLS)};
@ENV{keys %base} = values %base;

my $password = 'pw-G00d-s3cr3t-7731';
my $wrong_password = 'pw-Wr0ng-s3cr3t-4419';

lr_ok('company', 'create', '--id', 'tls', '--name', 'TLS Co', '--timezone', 'UTC', '--owner-email', 'owner@tls.example');
lr_ok('settings', 'set', '--company', 'tls', '--recipients', 'ann@tls.example');   # `send` only, never scheduled

# Runs linkreport with the given SMTP settings (undef: unset) on top of the base env.
sub lr_with {
    my ($smtp, @args) = @_;
    local @ENV{keys %$smtp} = values %$smtp;
    defined $ENV{$_} or delete $ENV{$_} for keys %$smtp;
    return lr(@args);
}
sub send_day {
    my ($smtp, $day) = @_;
    return lr_with($smtp, '--now', '2024-06-01T12:00:00Z', 'send', '--company', 'tls', '--frequency', 'daily',
                   '--period-start', $day);
}
sub smtp_env {
    my (%o) = @_;
    return {
        LINKREPORT_SMTP_URL => $o{url},
        LINKREPORT_SMTP_TLS => $o{tls},
        LINKREPORT_SMTP_USER => $o{user},
        LINKREPORT_SMTP_PASSWORD => $o{password},
        LINKREPORT_SMTP_CA_FILE => $o{ca},
    };
}
sub envelopes {
    my ($dir) = @_;
    my @m;
    for my $f (sort glob("$dir/*.json")) {
        next if $f =~ /auth\.jsonl$/;
        open my $fh, '<', $f or die "$f: $!";
        push @m, JSON::PP->new->decode(do { local $/; <$fh> });
    }
    return \@m;
}
sub auth_log {
    my ($dir) = @_;
    open my $fh, '<', "$dir/auth.jsonl" or return [];
    return [map { JSON::PP->new->decode($_) } <$fh>];
}
sub no_secret {
    my ($what, @texts) = @_;
    my $all = join "\n", map { $_ // '' } @texts;
    unlike($all, qr/\Q$password\E|\Q$wrong_password\E|s3cr3t/, "$what: no password in the output");
}

# --- 1. STARTTLS + AUTH.
my ($sport, $sdir) = start_smtp(starttls => $good, auth => "reports:$password");
my $starttls = smtp_env(url => "smtp://localhost:$sport", tls => 'starttls', user => 'reports',
                        password => $password, ca => $good->[0]);

my ($rc, $out, $err) = send_day($starttls, '2024-05-01');
is($rc, 0, 'STARTTLS + AUTH: send exits 0') or diag($err);
is($out, "send: tls daily 2024-05-01..2024-05-01: 0 rows, 1 of 1 recipients\n", 'STARTTLS + AUTH: one recipient served');
no_secret('STARTTLS + AUTH', $out, $err);
my $env = envelopes($sdir);
is(scalar @$env, 1, 'STARTTLS + AUTH: the message arrived');
is_deeply($env->[0]{rcpt_tos}, ['ann@tls.example'], 'to the recipient');
ok($env->[0]{tls} && $env->[0]{starttls}, 'the session was upgraded by STARTTLS');
like($env->[0]{tls_version} // '', qr/^TLSv1\.[23]$/, "TLS version ($env->[0]{tls_version})");
ok($env->[0]{cipher}, "cipher recorded ($env->[0]{cipher})");
is($env->[0]{auth_login}, 'reports', 'authenticated as the configured user');
my $m = mails($sdir);
is($m->[0]{subject}, 'Links Detailed Report: TLS Co, daily 2024-05-01', 'the report message, parsed back');
my $auth = auth_log($sdir);
is(scalar @$auth, 1, 'one AUTH attempt');
ok($auth->[0]{success} && $auth->[0]{tls} && $auth->[0]{login} eq 'reports', 'successful, over TLS, as reports');
like($auth->[0]{mechanism}, qr/^(PLAIN|LOGIN)$/, "mechanism $auth->[0]{mechanism}");
like(lr_ok('status', '--company', 'tls'), qr/^tls\tdaily\t2024-05-01\t2024-05-01\tsent\t/m, 'status: sent');

# Both mechanisms (curl picks one of several offered; each sink offers one).
for my $mech (qw(PLAIN LOGIN)) {
    my ($p, $d) = start_smtp(starttls => $good, auth => "reports:$password", auth_only => $mech);
    ($rc, $out, $err) = send_day({%$starttls, LINKREPORT_SMTP_URL => "smtp://localhost:$p"}, '2024-05-01');
    is($rc, 0, "AUTH $mech only: sent") or diag($err);
    my $a = auth_log($d);
    is_deeply([map { "$_->{mechanism} $_->{success} $_->{tls}" } @$a], ["$mech 1 1"], "AUTH $mech over TLS, accepted");
    is(envelopes($d)->[0]{auth_login}, 'reports', "AUTH $mech: message from the authenticated user");
}

# The sink really requires TLS: in clear (no credentials) the server refuses MAIL.
($rc, $out, $err) = send_day(smtp_env(url => "smtp://localhost:$sport", tls => 'none'), '2024-05-01');
is($rc, 69, 'in clear against the STARTTLS-only sink: delivery fails (69)');
like($err, qr/SMTP 530/, 'the server refused before STARTTLS') or diag($err);
is(scalar @{envelopes($sdir)}, 1, 'nothing more arrived');

# A wrong password: refused, said clearly, recorded, never printed; the scheduler retries.
clear_mails($sdir);
my $bad = {%$starttls, LINKREPORT_SMTP_PASSWORD => $wrong_password};
($rc, $out, $err) = send_day($bad, '2024-05-02');
is($rc, 69, 'wrong password: send exits 69');
like($err, qr/to ann\@tls\.example failed: SMTP 535\b.*/, 'says the server refused the login (535)') or diag($err);
no_secret('wrong password', $out, $err);
is(scalar @{envelopes($sdir)}, 0, 'nothing arrived');
$auth = auth_log($sdir);
ok(@$auth == 2 && !$auth->[1]{success} && $auth->[1]{tls} && $auth->[1]{login} eq 'reports',
   'the server saw a failed AUTH for reports, over TLS');
my $status = lr_ok('status', '--company', 'tls');
like($status, qr/^tls\tdaily\t2024-05-02\t2024-05-02\tpending\t1\t0\t\tann\@tls\.example: SMTP 535: Login denied\n  -\tann\@tls\.example\tpending\t1\t\tSMTP 535/,
     'status: the run waits for a retry, the delivery failed with SMTP 535') or diag($status);
no_secret('status', $status);

# The scheduler: a failed attempt is recorded and retried with the right password.
lr_ok('company', 'create', '--id', 'sched', '--name', 'Sched', '--timezone', 'UTC', '--owner-email', 'bob@sched.example');
lr_ok('--now', '2024-05-10T00:00:00Z', 'settings', 'set', '--company', 'sched', '--enable', '--daily', 'on');
clear_mails($sdir);
my $tick = sub { my ($smtp, $now) = @_; return lr_with($smtp, '--now', $now, 'schedule', '--once') };
($rc, $out, $err) = $tick->($bad, '2024-05-10T10:00:00Z');
is($out, "schedule: 1 due, 0 sent, 1 failed\n", 'schedule with the wrong password: the delivery fails') or diag($err);
like($err, qr/sched daily 2024-05-09 to bob\@sched\.example failed: SMTP 535/, 'failure logged');
no_secret('schedule', $out, $err);
$status = lr_ok('status', '--company', 'sched');
like($status, qr/^sched\tdaily\t2024-05-09\t2024-05-09\tpending\t1\t0\t\tbob\@sched\.example: SMTP 535/m,
     'status: pending, attempt 1, SMTP 535') or diag($status);
no_secret('status', $status);
is(scalar @{envelopes($sdir)}, 0, 'nothing arrived');
($rc, $out, $err) = $tick->($starttls, '2024-05-10T10:05:00Z');
is($out, "schedule: 0 due, 1 sent, 0 failed\n", 'retried with the right password: sent') or diag($err);
$env = envelopes($sdir);
ok(@$env == 1 && $env->[0]{tls} && $env->[0]{starttls} && $env->[0]{auth_login} eq 'reports', 'arrived over TLS, authenticated');
like(lr_ok('status', '--company', 'sched'), qr/^sched\tdaily\t2024-05-09\t2024-05-09\tsent\t2\t/m, 'status: sent after 2 attempts');

# --- 2. SMTPS (implicit TLS).
my ($iport, $idir) = start_smtp(smtps => $good, auth => "reports:$password");
my $smtps = smtp_env(url => "smtps://localhost:$iport", tls => 'smtps', user => 'reports',
                     password => $password, ca => $good->[0]);
($rc, $out, $err) = send_day($smtps, '2024-05-01');
is($rc, 0, 'SMTPS: send exits 0') or diag($err);
no_secret('SMTPS', $out, $err);
$env = envelopes($idir);
is(scalar @$env, 1, 'SMTPS: the message arrived');
ok($env->[0]{tls} && !$env->[0]{starttls}, 'TLS from the first byte (no STARTTLS)');
like($env->[0]{tls_version} // '', qr/^TLSv1\.[23]$/, "TLS version ($env->[0]{tls_version})");
is($env->[0]{auth_login}, 'reports', 'authenticated');
# LINKREPORT_SMTP_TLS defaults to smtps for an smtps:// URL; no credentials needed.
my ($nport, $ndir) = start_smtp(smtps => $good);
($rc, $out, $err) = send_day(smtp_env(url => "smtps://127.0.0.1:$nport", ca => $good->[0]), '2024-05-01');
is($rc, 0, 'SMTPS by default for smtps://, to 127.0.0.1 (IP in the certificate)') or diag($err);
$env = envelopes($ndir);
ok(@$env == 1 && $env->[0]{tls} && !defined $env->[0]{auth_login}, 'arrived over TLS, no AUTH');

# --- 3. Certificates that must be refused; the password never reaches the server.
my @refuse = (
    ['STARTTLS, untrusted certificate', {starttls => $rogue}, 'smtp', 'starttls', $good->[0]],
    ['SMTPS, untrusted certificate', {smtps => $rogue}, 'smtps', 'smtps', $good->[0]],
    ['STARTTLS, trusted certificate for another host', {starttls => $wrong_name}, 'smtp', 'starttls', $wrong_name->[0]],
    ['SMTPS, trusted certificate for another host', {smtps => $wrong_name}, 'smtps', 'smtps', $wrong_name->[0]],
    ['STARTTLS, self-signed, no CA file (system CAs)', {starttls => $good}, 'smtp', 'starttls', undef],
);
for my $case (@refuse) {
    my ($what, $sink, $scheme, $tls, $ca) = @$case;
    my ($p, $d) = start_smtp(%$sink, auth => "reports:$password");
    ($rc, $out, $err) = send_day(smtp_env(url => "$scheme://localhost:$p", tls => $tls, user => 'reports',
                                          password => $password, ca => $ca), '2024-05-01');
    is($rc, 69, "$what: refused (69)");
    like($err, qr/failed: .*(certificate|SSL peer)/i, "$what: says the certificate is the problem") or diag($err);
    unlike($err, qr/failed: SMTP \d/, "$what: not blamed on an SMTP reply") or diag($err);
    no_secret($what, $out, $err);
    is(scalar @{envelopes($d)}, 0, "$what: nothing arrived");
    is(scalar @{auth_log($d)}, 0, "$what: no AUTH attempted");
}

done_testing();
