-- grants.sql: who may do what (docs/operations.md, "Roles").
--
-- Nobody but the extension's own functions writes its tables.  Internal
-- functions (_name) run only as their owner, reached through the C
-- trampoline.  loyalty_app calls what application code needs,
-- loyalty_admin also manages programmes and corrects balances,
-- loyalty_reader reads the reporting views.

REVOKE ALL ON ALL TABLES IN SCHEMA @extschema@ FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA @extschema@ FROM PUBLIC;
REVOKE ALL ON ALL ROUTINES IN SCHEMA @extschema@ FROM PUBLIC;
-- A type's I/O functions stay everyone's, as for built-in types.
GRANT EXECUTE ON FUNCTION
    @extschema@.coupon_code_in(cstring),
    @extschema@.coupon_code_out(@extschema@.coupon_code),
    @extschema@.coupon_code_recv(internal),
    @extschema@.coupon_code_send(@extschema@.coupon_code)
TO PUBLIC;

GRANT EXECUTE ON FUNCTION
    @extschema@.enroll(text, text, timestamptz, date, jsonb),
    @extschema@.member(text, text),
    @extschema@.tag_member(bigint, text),
    @extschema@.untag_member(bigint, text),
    @extschema@.earn(bigint, bigint, text, text, timestamptz, timestamptz, timestamptz),
    @extschema@.spend(bigint, bigint, text, text, timestamptz),
    @extschema@.reverse(bigint, text, text, bigint, timestamptz),
    @extschema@.transfer_points(bigint, bigint, bigint, text, timestamptz),
    @extschema@.points(bigint, timestamptz),
    @extschema@.balance(bigint, timestamptz),
    @extschema@.history(bigint, timestamptz, int),
    @extschema@.default_settings(),
    @extschema@.quote_points(bigint, bigint, jsonb, timestamptz),
    @extschema@.record_event(bigint, text, text, timestamptz),
    @extschema@.refund(regclass, text, bigint, text, timestamptz),
    @extschema@.tier(bigint, timestamptz),
    @extschema@.tier_for(text, bigint),
    @extschema@.tier_benefits(bigint, timestamptz),
    @extschema@.tier_history(bigint),
    @extschema@.claim_coupon(bigint, text, timestamptz),
    @extschema@.claim_code(bigint, @extschema@.coupon_code, timestamptz),
    @extschema@.redeem_coupon(@extschema@.coupon_code, bigint, text, jsonb, timestamptz),
    @extschema@.release_coupon(@extschema@.coupon_code, text, timestamptz),
    @extschema@.member_coupons(bigint, timestamptz),
    @extschema@.start_share(bigint, text, timestamptz),
    @extschema@.join_share(text, bigint, timestamptz),
    @extschema@.share_status(text),
    @extschema@.open_wallet(text, text, text, bigint, jsonb),
    @extschema@.transfer(bigint, bigint, bigint, text, text, boolean, interval, timestamptz),
    @extschema@.post_transfer(bigint, bigint, timestamptz),
    @extschema@.void_transfer(bigint, timestamptz),
    @extschema@.wallet_balance(bigint, timestamptz),
    @extschema@.wallet_history(bigint, timestamptz, int),
    @extschema@.find_wallet(text, text),
    @extschema@.member_wallets(bigint),
    @extschema@.redeem_reward(bigint, text, int, text, timestamptz),
    @extschema@.cancel_redemption(bigint, timestamptz)
TO loyalty_app, loyalty_admin;

GRANT EXECUTE ON FUNCTION
    @extschema@.create_program(text, text, text, jsonb),
    @extschema@.update_program(text, jsonb),
    @extschema@.adjust(bigint, bigint, text, text, timestamptz),
    @extschema@.verify(text),
    @extschema@.define_earn_rule(text, text, jsonb),
    @extschema@.define_tier(text, text, int, bigint, numeric, numeric, jsonb),
    @extschema@.track_orders(regclass, text, name, name, name, name, name, name, jsonb, name),
    @extschema@.untrack_orders(regclass),
    @extschema@.define_coupon(text, text, jsonb),
    @extschema@.issue_codes(text, text, int),
    @extschema@.void_coupon(@extschema@.coupon_code, text, timestamptz),
    @extschema@.set_wallet_rules(bigint, jsonb),
    @extschema@.grant_wallet(bigint, name, text),
    @extschema@.fund_wallet(bigint, bigint, text, timestamptz),
    @extschema@.add_reward(text, text, text, bigint, int, text),
    @extschema@.grant_program(name, text),
    @extschema@.revoke_program(name, text)
TO loyalty_admin;
GRANT EXECUTE ON PROCEDURE
    @extschema@.run_expiry(timestamptz, int),
    @extschema@.run_tier_review(timestamptz, int),
    @extschema@.expire_coupons(timestamptz, int),
    @extschema@.expire_holds(timestamptz, int)
TO loyalty_admin;

GRANT SELECT ON
    @extschema@.points_daily,
    @extschema@.points_liability,
    @extschema@.member_overview,
    @extschema@.tier_distribution,
    @extschema@.dormant_members,
    @extschema@.spend_distribution,
    @extschema@.purchase_frequency,
    @extschema@.rfm,
    @extschema@.coupon_performance,
    @extschema@.wallet_activity_daily,
    @extschema@.reward_redemptions_daily
TO loyalty_reader, loyalty_admin;
-- Views call these with the reader's rights: points_liability asks balance()
-- for members who owe points, member_overview and dormant_members points();
-- every view keeps the rows of the programmes the reader may use.
GRANT EXECUTE ON FUNCTION
    @extschema@.balance(bigint, timestamptz),
    @extschema@.points(bigint, timestamptz)
TO loyalty_reader;
GRANT EXECUTE ON FUNCTION @extschema@.program_visible(bigint) TO loyalty_reader, loyalty_app, loyalty_admin;

-- Administrators read everything (and write nothing directly).
GRANT SELECT ON ALL TABLES IN SCHEMA @extschema@ TO loyalty_admin;
GRANT EXECUTE ON FUNCTION @extschema@.job_is_running(bigint) TO loyalty_admin;
