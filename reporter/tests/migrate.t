#!/usr/bin/perl
# migrate: creates the schema, is idempotent and safe to run concurrently.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use POSIX ();
use Test::More;
use LRTest;

setup_isolated('migrate', no_migrate => 1);

my $out = lr_ok('migrate');
is($out, "migrate: schema at version 5 (5 applied)\nmigrate: click partitions up to 3 months ahead (4 made)\n",
   'first migrate applies every migration and makes the click partitions');
$out = lr_ok('migrate');
is($out, "migrate: schema at version 5 (0 applied)\nmigrate: click partitions up to 3 months ahead (0 made)\n",
   'second migrate applies nothing');

my $tables = psql("SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'public' AND table_name !~ '^clicks_'");
is($tables, 'clicks,companies,dead_letters,link_recipients,links,report_deliveries,report_runs,report_settings,schema_migrations', 'all tables present');
is(psql('SELECT string_agg(version::text, \',\' ORDER BY version) FROM schema_migrations'), '1,2,3,4,5', 'schema_migrations records each version');

my %columns = (
    companies => 'id,name,timezone,owner_email,created_at',
    links => 'txtly_id,code,company_id,long_url,short_url,campaign_name,template_id,channel,message_id,track_user,created_on',
    link_recipients => 'txtly_id,token,mobile_number,message_id',
    clicks => 'click_id,stream_id,company_id,txtly_id,code,recipient,short_url,mobile_number,client_ip,browser,platform,platform_version,engine,country,city,visited_on,device_type,created_on,long_url,channel,message_id,campaign_name,template_id,user_agent,method,stored_at,non_human',
    dead_letters => 'id,stream,stream_id,reason,entry,received_at,record_no',
    report_settings => 'company_id,enabled,daily,weekly,monthly,recipients,include_non_human,daily_since,weekly_since,monthly_since,updated_at',
    report_runs => 'company_id,frequency,period_start,period_end,send_at,state,manual,attempts,next_attempt_at,last_error,rows,file,sent_at,created_at',
    report_deliveries => 'company_id,frequency,period_start,recipient,state,attempts,last_error,message_id,sent_at',
);
for my $t (sort keys %columns) {
    is(psql("SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = '$t'"),
       $columns{$t}, "columns of $t");
}
is(psql("SELECT indexdef FROM pg_indexes WHERE indexname = 'clicks_company_visited_on'"),
   'CREATE INDEX clicks_company_visited_on ON ONLY public.clicks USING btree (company_id, visited_on)',
   'clicks (company_id, visited_on) index, on every partition');
is(psql("SELECT indexdef FROM pg_indexes WHERE indexname = 'clicks_pkey'"),
   'CREATE UNIQUE INDEX clicks_pkey ON ONLY public.clicks USING btree (click_id, visited_on)',
   'clicks primary key (click_id, visited_on): the partition key must be part of it');
is(psql("SELECT is_identity FROM information_schema.columns WHERE table_name = 'links' AND column_name = 'txtly_id'"),
   'YES', 'links.txtly_id is an identity column');

# Concurrent runs on a fresh database: every one succeeds, the migration applies once.
my $db = $ENV{LINKREPORT_DB};
psql('DROP TABLE report_deliveries, report_runs, report_settings, clicks, dead_letters, link_recipients, links, companies, schema_migrations;'
   . ' DROP FUNCTION linkreport_ensure_click_partitions, linkreport_click_partition');
my @pids;
for (1 .. 4) {
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        # _exit: the child must not run the END blocks that drop the test database.
        my ($rc) = LRTest::lr('migrate');
        POSIX::_exit($rc);
    }
    push @pids, $pid;
}
my @codes = map { waitpid($_, 0); $? >> 8 } @pids;
is_deeply(\@codes, [0, 0, 0, 0], 'four concurrent migrates all exit 0');
is(psql('SELECT count(*) = count(DISTINCT version) AND count(*) = 5 FROM schema_migrations'), 't', 'each migration recorded once');

# Global option given after the subcommand, env pointing nowhere.
{
    local $ENV{LINKREPORT_DB} = 'postgresql://nobody@127.0.0.1:1/none';
    my ($rc, $o, $err) = lr('migrate', '--db', $db);
    is($rc, 0, '--db after the subcommand overrides LINKREPORT_DB') or diag($err);
}

done_testing();
