#!/usr/bin/env perl
# tests/docs/check_docs.pl: the user guides' examples run, and print what the
# guides say they print.
#
# For each guide (docs/NAME.md) with ```sql blocks: a fresh database with the
# extension, every sql block of the guide played in order in one psql session
# (the blocks of a guide are one story), and the ``` block on the line right
# after an sql block's closing fence, if there is one, checked against what
# psql printed for it.  A guide shows what matters, not everything: each
# piece of its output block must have been printed, in that order, where a
# piece is a whole result table, or a message (an ERROR, NOTICE, WARNING or
# INFO line with the DETAIL / HINT lines under it; the guide may leave some
# of those out).  A guide may leave whole pieces out, never part of a table.
# Conventions of the guides' output blocks:
#   - a result's "(N rows)" footer may be left out (if shown, it is checked);
#   - a line "-- note", or a "  -- note" at the end of a line, is the guide's
#     comment, not output;
#   - "...-...-..." stands for a random coupon code (any code matches it);
#   - rates ("2000 coupons/s") and durations ("in 12 ms") are not compared.
# Every ERROR printed must be one the guide shows (each shown ERROR stands
# for one printed), and psql's own errors (an invalid command, a \gset that
# got no row) fail the guide: an example that fails must say so.  A block
# that cannot run in this setting (pg_cron, two sessions at once) is preceded
# by the line
#   <!-- docs-check: skip, REASON -->
# (invisible once rendered), and is neither run nor checked.  The database
# gets the extension from the checker, unless the guide's first block
# creates it.  Afterwards the database and the roles the guide created are
# dropped, whatever the outcome, so one guide cannot fail the next.
#
# Usage: check_docs.pl DOC.md...  Needs psql, createdb and dropdb on PATH,
# PGHOST etc. naming a running server, and a superuser (the guides create
# roles and the extension).  Prints one line per guide ("NAME: ..., all as
# printed", or "..., N differ", or "...: error: ..."); exit status 1 if any
# guide differs or could not be checked.
use strict;
use warnings;
use File::Temp qw(tempfile);

$| = 1;

# psql's own errors, which it prints without "ERROR:" when reading stdin
my $psql_error = qr/^(?:invalid command \\|no rows returned for \\gset|more than one row returned for \\gset|invalid variable name|unterminated quoted|could not |\\[a-z]+: )/;

# Does this line start a message (a server message, or psql's own error)?
sub is_message_line
{
	my ($line) = @_;
	return $line =~ /^(ERROR|NOTICE|WARNING|INFO):/ || $line =~ $psql_error;
}

# The sql blocks of a guide: { line, sql, out (if an output block follows) }.
sub blocks_of
{
	my ($file) = @_;
	open my $fh, '<', $file or die "$file: $!\n";
	my @lines = <$fh>;
	close $fh;
	my (@blocks, $skipped);
	my $i = 0;
	while ($i < @lines)
	{
		my ($indent) = $lines[$i] =~ /^(\s*)```sql\s*$/;
		if (!defined $indent)
		{
			$i++;
			next;
		}
		my $skip = $i > 0 && $lines[ $i - 1 ] =~ /^\s*<!-- docs-check: skip\b/;
		# the lines up to the closing fence at $i, unindented; $i then after it
		my $body = sub {
			my $text = '';
			for ($i++; $i < @lines && $lines[$i] !~ /^\s*```\s*$/; $i++)
			{
				(my $l = $lines[$i]) =~ s/^\Q$indent\E//;
				$text .= $l;
			}
			$i++;
			return $text;
		};
		my %blk = (line => $i + 1);
		$blk{sql} = $body->();
		$blk{out} = $body->() if $i < @lines && $lines[$i] =~ /^\s*```\s*$/;
		if ($skip)
		{
			$skipped++;
		}
		else
		{
			push @blocks, \%blk;
		}
	}
	return (\@blocks, $skipped // 0);
}

# Output as pieces: result tables (split at blank lines; a footer stays with
# its table) and messages (a message line with the DETAIL / HINT lines under
# it; psql's "LINE n:" quote of the statement and its caret are left out).
sub pieces
{
	my ($text, $from_guide) = @_;
	my (@pieces, $cur, $in_message);
	$cur = '';
	my $flush = sub { push @pieces, $cur if $cur ne ''; $cur = ''; $in_message = 0; };
	for my $l (split /\n/, $text // '')
	{
		if ($from_guide)
		{
			next if $l =~ /^-- /;
			$l =~ s/\s+-- .*$//;
		}
		$l =~ s/\s+$//;
		$l =~ s/\b\d+(\.\d+)? ([a-z]+\/s)\b/N $2/g;
		$l =~ s/\bin \d+(\.\d+)? ms\b/in N ms/g;
		if (is_message_line($l))
		{
			$flush->();
			$cur = "$l\n";
			$in_message = 1;
		}
		elsif ($in_message && $l =~ /^(DETAIL|HINT):/)
		{
			$cur .= "$l\n";
		}
		elsif ($in_message && ($l =~ /^LINE \d+: / || $l =~ /^\s*\^$/))
		{
			next;
		}
		elsif ($l eq '')
		{
			$flush->();
		}
		else
		{
			$flush->() if $in_message;
			$cur .= "$l\n";
		}
	}
	$flush->();
	return @pieces;
}

# Is printed piece $have the guide's piece $want?  A message may leave out
# DETAIL / HINT lines; a table may leave out its footer; "...-...-..."
# matches any coupon code.
sub same
{
	my ($want, $have) = @_;
	my $line_pattern = sub {
		my $p = join '[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}',
		  map { quotemeta } split /\.\.\.-\.\.\.-\.\.\./, shift, -1;
		return qr/\A$p\z/;
	};
	my @w = split /\n/, $want;
	my @h = split /\n/, $have;
	if (is_message_line($w[0]))
	{
		return 0 unless $h[0] =~ $line_pattern->(shift @w);
		shift @h;
		for my $wl (@w)		# the rest in order, some perhaps left out
		{
			my $p = $line_pattern->($wl);
			shift @h while @h && $h[0] !~ $p;
			return 0 unless @h;
			shift @h;
		}
		return 1;
	}
	pop @h if @h && $h[-1] =~ /^\(\d+ rows?\)$/ && $w[-1] !~ /^\(\d+ rows?\)$/;
	return 0 unless @w == @h;
	for my $k (0 .. $#w)
	{
		return 0 unless $h[$k] =~ $line_pattern->($w[$k]);
	}
	return 1;
}

sub is_error
{
	my ($piece) = @_;
	return $piece =~ /^ERROR:/ || $piece =~ $psql_error;
}

# Run a client program quietly (no NOTICE from IF EXISTS); die if it fails.
sub run_ok
{
	my @cmd = @_;
	local $ENV{PGOPTIONS} = ($ENV{PGOPTIONS} // '') . ' -c client_min_messages=warning';
	system(@cmd) == 0 or die "@cmd failed\n";
}

sub roles
{
	open my $fh, '-|', 'psql', '-X', '-A', '-t', '-d', 'postgres', '-c',
	  'SELECT rolname FROM pg_catalog.pg_roles'
	  or die "psql: $!\n";
	my @r = map { chomp; $_ } <$fh>;
	close $fh or die "psql failed listing roles\n";
	return @r;
}

# Play the guide's blocks in database $db; what psql printed for each block.
sub play
{
	my ($db, $blocks) = @_;
	my ($sf, $scriptfile) = tempfile('loyalty_docs_XXXXXX', TMPDIR => 1, SUFFIX => '.sql', UNLINK => 1);
	print $sf "\\set ON_ERROR_STOP 0\n\\set SHOW_CONTEXT never\n";
	for my $n (0 .. $#$blocks)
	{
		# the ";" ends a statement a block left open (psql skips an empty one)
		print $sf "\\echo '\@\@block $n\@\@'\n$blocks->[$n]{sql}\n;\n";
	}
	print $sf "\\echo '\@\@end\@\@'\n";
	close $sf or die "$scriptfile: $!\n";

	# stdin, as pg_regress feeds psql: messages then carry no "psql:file:line:"
	# prefix; no shell in between.  UTC and ISO dates unless the guide sets them.
	local $ENV{PGTZ}             = 'UTC';
	local $ENV{PGDATESTYLE}      = 'ISO, MDY';
	local $ENV{PGCLIENTENCODING} = 'UTF8';
	local $ENV{PGOPTIONS}        = '-c lc_messages=C';
	my $pid = open(my $from, '-|') // die "fork: $!\n";
	if ($pid == 0)
	{
		open STDIN, '<', $scriptfile or die "$scriptfile: $!\n";
		open STDERR, '>&', \*STDOUT or die "stderr: $!\n";
		exec 'psql', '-X', '-q', '-d', $db or die "psql: $!\n";
	}
	my @printed = <$from>;
	close $from;
	die sprintf("psql %s\n", $? & 127 ? 'was killed by signal ' . ($? & 127) : 'exited with status ' . ($? >> 8))
	  if $?;

	my (%got, $cur, $ended);
	for my $l (@printed)
	{
		chomp $l;
		if ($l =~ /^\@\@block (\d+)\@\@$/)
		{
			$cur = $1;
			$got{$cur} = '';
		}
		elsif ($l eq '@@end@@')
		{
			$ended = 1;
			undef $cur;
		}
		elsif ($ended)
		{
			die "psql printed after the last block: $l\n" if $l ne '';
		}
		elsif (defined $cur)
		{
			$got{$cur} .= "$l\n";
		}
	}
	die "psql stopped before the end of the guide\n" unless $ended;
	return \%got;
}

# The problem with block $blk, given what psql printed for it; undef if none.
sub check_block
{
	my ($blk, $printed) = @_;
	my @have = pieces($printed, 0);
	my @matched;
	if (defined $blk->{out})
	{
		my $k = 0;
		for my $want (pieces($blk->{out}, 1))
		{
			$k++ while $k < @have && !same($want, $have[$k]);
			return "this output of the guide was not printed (or not in this order):\n$want"
			  if $k == @have;
			$matched[ $k++ ] = 1;
		}
	}
	for my $k (0 .. $#have)
	{
		return "it printed an error the guide does not show:\n$have[$k]"
		  if is_error($have[$k]) && !$matched[$k];
	}
	return undef;
}

my $failed = 0;
for my $doc (@ARGV)
{
	my ($blocks, $skipped) = blocks_of($doc);
	if (!@$blocks)
	{
		print "$doc: 0 sql blocks ($skipped skipped), nothing to play\n";
		next;
	}
	(my $name = $doc) =~ s{.*/}{};
	$name =~ s/\.md$//;
	my $db = "loyalty_docs_$name";
	my %roles_before;
	my ($checked, $bad) = (0, 0);
	my $ok = eval {
		%roles_before = map { $_ => 1 } roles();
		run_ok('dropdb', '--if-exists', $db);
		run_ok('createdb', $db);
		run_ok('psql', '-X', '-q', '-d', $db, '-c', 'CREATE EXTENSION loyalty')
		  unless $blocks->[0]{sql} =~ /^\s*CREATE\s+EXTENSION\s+(IF\s+NOT\s+EXISTS\s+)?loyalty\b/mi;
		my $got = play($db, $blocks);
		for my $n (0 .. $#$blocks)
		{
			my $blk = $blocks->[$n];
			$checked++ if defined $blk->{out};
			my $problem = check_block($blk, $got->{$n});
			next unless defined $problem;
			$bad++;
			print "---- $doc, the sql block at line $blk->{line}: $problem\n";
			print "---- what psql printed for it:\n", $got->{$n} // '', "\n";
		}
		1;
	};
	my $error = $@;
	# whatever happened: drop the database, then the roles the guide created
	eval { run_ok('dropdb', '--if-exists', $db) };
	for my $role (grep { !$roles_before{$_} } eval { roles() })
	{
		(my $quoted = $role) =~ s/"/""/g;
		eval { run_ok('psql', '-X', '-q', '-d', 'postgres', '-c', qq{DROP ROLE "$quoted"}) }
		  or warn "could not drop role $role (created by $doc)\n";
	}
	my $counts = sprintf '%d sql blocks (%d skipped), %d outputs checked', scalar(@$blocks), $skipped,
	  $checked;
	if (!$ok)
	{
		chomp $error;
		print "$doc: $counts, error: $error\n";
		$failed++;
	}
	else
	{
		printf "%s: %s, %s\n", $doc, $counts, $bad ? "$bad differ" : 'all as printed';
		$failed++ if $bad;
	}
}
exit($failed ? 1 : 0);
