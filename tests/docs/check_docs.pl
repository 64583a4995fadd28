#!/usr/bin/env perl
# tests/docs/check_docs.pl: the user guides' examples run, and print what the
# guides say they print.
#
# For each guide (docs/NAME.md) with ```sql blocks: a fresh database with the
# extension, every sql block of the guide played in order in one psql session
# (the blocks of a guide are one story), and the ``` block right after an sql
# block, if there is one, checked against what psql printed for it.  A guide
# shows what matters, not everything, so each piece of the shown output (a
# result table, or one ERROR / DETAIL / HINT / NOTICE line) must appear in the
# printed output, in the same order; pieces it leaves out are not checked.
# Conventions of the guides' output blocks:
#   - "(N rows)" footers may be left out;
#   - a line "-- note", or a "  -- note" at the end of a line, is the guide's
#     comment, not output;
#   - "...-...-..." stands for a random coupon code (any code matches it);
#   - rates ("2000 coupons/s") and durations ("in 12 ms") are not compared.
# An ERROR a guide does not show fails it, with or without an output block:
# an example that fails must say so.  A block that cannot run here (it needs
# pg_cron, or a shell) is preceded by the line
#   <!-- docs-check: skip, REASON -->
# (invisible once rendered), and is neither run nor checked.  The database
# gets the extension from the checker, unless the guide's first block
# creates it.
#
# Usage: check_docs.pl DOC.md...   (psql, createdb and dropdb on PATH; PGHOST
# etc. name a running server).  Exit status 1 if any guide differs.
use strict;
use warnings;

sub blocks_of {
	my ($file) = @_;
	open my $fh, '<', $file or die "$file: $!\n";
	my @lines = <$fh>;
	close $fh;
	my @blocks;
	my $i = 0;
	while ($i < @lines)
	{
		if ($lines[$i] !~ /^```sql\s*$/)
		{
			$i++;
			next;
		}
		my $skip = $i > 0 && $lines[$i - 1] =~ /^<!-- docs-check: skip\b/;
		my %b = (line => $i + 1, sql => '', skip => $skip);
		for ($i++; $i < @lines && $lines[$i] !~ /^```\s*$/; $i++)
		{
			$b{sql} .= $lines[$i];
		}
		$i++;
		if ($i < @lines && $lines[$i] =~ /^```\s*$/)
		{
			$b{out} = '';
			for ($i++; $i < @lines && $lines[$i] !~ /^```\s*$/; $i++)
			{
				$b{out} .= $lines[$i];
			}
			$i++;
		}
		push @blocks, \%b unless $skip;
	}
	return @blocks;
}

# Output as a list of pieces: result tables (split at blank lines) and single
# message lines.
sub pieces {
	my ($text, $from_doc) = @_;
	my (@pieces, $cur);
	$cur = '';
	for my $l (split /\n/, $text // '')
	{
		if ($from_doc)
		{
			next if $l =~ /^-- /;
			$l =~ s/\s+-- .*$//;
		}
		$l =~ s/\s+$//;
		$l =~ s/\b\d+(\.\d+)? ([a-z]+\/s)\b/N $2/g;
		$l =~ s/\bin \d+(\.\d+)? ms\b/in N ms/g;
		next if $l =~ /^\(\d+ rows?\)$/;
		if ($l =~ /^(ERROR|DETAIL|HINT|NOTICE|WARNING|INFO):/)
		{
			push @pieces, $cur if $cur ne '';
			$cur = '';
			push @pieces, $l;
		}
		elsif ($l eq '')
		{
			push @pieces, $cur if $cur ne '';
			$cur = '';
		}
		else
		{
			$cur .= "$l\n";
		}
	}
	push @pieces, $cur if $cur ne '';
	return @pieces;
}

# Is printed piece $have the guide's piece $want ("...-...-..." in it: any code)?
sub same {
	my ($want, $have) = @_;
	my $pattern = join '[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}',
	  map { quotemeta } split /\.\.\.-\.\.\.-\.\.\./, $want, -1;
	return $have =~ /\A$pattern\z/;
}

sub roles {
	my @r = split /\n/, `psql -X -A -t -d postgres -c 'SELECT rolname FROM pg_catalog.pg_roles'`;
	die "psql failed listing roles\n" if $?;
	return @r;
}

# Run a client program quietly (no NOTICE from IF EXISTS); die if it fails.
sub psql_ok {
	my @cmd = @_;
	local $ENV{PGOPTIONS} = '-c client_min_messages=warning';
	system(@cmd) == 0 or die "@cmd failed\n";
}

my $failed = 0;
for my $doc (@ARGV)
{
	my @blocks = blocks_of($doc);
	next unless @blocks;
	(my $name = $doc) =~ s{.*/}{};
	$name =~ s/\.md$//;
	my $db = "loyalty_docs_$name";
	my %roles_before = map { $_ => 1 } roles();
	psql_ok('dropdb', '--if-exists', $db);
	psql_ok('createdb', $db);
	psql_ok('psql', '-X', '-q', '-d', $db, '-c', 'CREATE EXTENSION loyalty CASCADE')
	  unless $blocks[0]{sql} =~ /CREATE EXTENSION/i;

	my $script = "\\set ON_ERROR_STOP 0\n\\set SHOW_CONTEXT never\n";
	for my $n (0 .. $#blocks)
	{
		$script .= "\\echo '\@\@block $n\@\@'\n$blocks[$n]{sql}\n";
	}
	$script .= "\\echo '\@\@end\@\@'\n";
	my $scriptfile = "/tmp/loyalty_docs_$name.$$.sql";
	open my $sf, '>', $scriptfile or die "$scriptfile: $!\n";
	print $sf $script;
	close $sf;
	# stdin, as pg_regress feeds psql: messages then carry no "psql:file:line:" prefix;
	# UTC unless the guide sets its zone, whatever the machine's
	local $ENV{PGTZ} = 'UTC';
	my $printed = `psql -X -q -d $db < $scriptfile 2>&1`;
	my $status = $? >> 8;
	unlink $scriptfile;
	die "psql exited with status $status playing $doc:\n$printed" if $status != 0;

	my (%got, $cur);
	for my $l (split /\n/, $printed)
	{
		if ($l =~ /^\@\@(block (\d+)|end)\@\@$/)
		{
			$cur = $2;
			$got{$cur} = '' if defined $cur;
			next;
		}
		$got{$cur} .= "$l\n" if defined $cur;
	}

	my ($checked, $bad) = (0, 0);
	for my $n (0 .. $#blocks)
	{
		my $b = $blocks[$n];
		my @have = pieces($got{$n}, 0);
		my $problem;
		if (defined $b->{out})
		{
			$checked++;
			my $k = 0;
			for my $want (pieces($b->{out}, 1))
			{
				my $found = 0;
				while ($k < @have)
				{
					if (same($want, $have[$k++]))
					{
						$found = 1;
						last;
					}
				}
				next if $found;
				$problem = "this output of the guide was not printed (or not in this order):\n$want";
				last;
			}
			# an error the guide does not show is a statement that failed unnoticed
			my @shown = pieces($b->{out}, 1);
			my @unshown = grep { my $e = $_; /^ERROR:/ && !grep { same($_, $e) } @shown } @have;
			$problem //= "it raised an error the guide does not show:\n$unshown[0]" if @unshown;
		}
		else
		{
			my @errors = grep { /^ERROR:/ } @have;
			$problem = "it raised an error the guide does not show:\n$errors[0]" if @errors;
		}
		next unless defined $problem;
		$bad++;
		print "---- $doc, the sql block at line $b->{line}: $problem\n";
		print "---- what psql printed for it:\n", join("\n", @have), "\n\n";
	}
	printf "%s: %d sql blocks, %d outputs checked, %s\n", $doc, scalar(@blocks), $checked,
	  $bad ? "$bad differ" : 'all as printed';
	$failed++ if $bad;
	next if $bad;				# the database and its roles are kept to look at
	psql_ok('dropdb', '--if-exists', $db);
	# roles are cluster-wide: the ones the guide created go with its database
	psql_ok('psql', '-X', '-q', '-d', 'postgres', '-c', qq{DROP ROLE "$_"})
	  for grep { !$roles_before{$_} } roles();
}
exit($failed ? 1 : 0);
