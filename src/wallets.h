/*
 * wallets.h: the marketing wallets engine (wallets.c) shared with the order
 * trigger (cashback, money an order paid from a wallet) and the rewards.
 */
#ifndef LOYALTY_WALLETS_H
#define LOYALTY_WALLETS_H

#include "loyalty.h"

typedef enum LyWalletRole
{
	LY_WALLET_MEMBER,
	LY_WALLET_PROGRAM,
	LY_WALLET_EXTERNAL,
	LY_WALLET_REVENUE
} LyWalletRole;

/* A wallet's definition as transfers need it (cached per backend). */
typedef struct LyWallet
{
	int64		wallet_id;		/* hash key */
	int64		program_id;
	int64		version;		/* programme definitions_version when loaded */
	char		name[64];
	char		currency[4];
	int64		owner_member;	/* 0: a programme wallet */
	LyWalletRole role;
	int32		escrow_parts;	/* parts besides the reserve (part 0) */
	bool		allow_overdraft;
	int64		max_transfer;	/* 0: none */
	int64		daily_debit_limit;	/* 0: none */
	bool		frozen;
} LyWallet;

/* Why an internal debit could not be made. */
typedef enum LyDebitResult
{
	LY_DEBIT_DONE,
	LY_DEBIT_SHORT,				/* not enough money */
	LY_DEBIT_BUSY,				/* enough in all, but not reachable without waiting */
	LY_DEBIT_DAILY_LIMIT
} LyDebitResult;

extern const LyWallet *ly_wallet_get(int64 wallet_id);
extern int64 ly_wallet_by_name(int64 program_id, const char *name);
extern int64 ly_member_wallet(int64 program_id, int64 member_id, const char *currency);

/*
 * Move `amount` from `debit` to `credit` inside the extension (cashback,
 * its reversal, debt repayment, returns): no privilege or rule checks but
 * funds; `ref` must be new.  Returns the transfer id, or 0 with *result set
 * when the debit wallet cannot pay.
 */
extern int64 ly_wallet_move(const LyWallet *debit, const LyWallet *credit, int64 amount,
							const char *ref, const char *kind, int64 hint, TimestampTz at,
							LyDebitResult *result);
extern int64 ly_wallet_lock_available(const LyWallet *w, TimestampTz at);
extern void ly_wallets_invalidate(void);
extern int64 ly_wallet_expire_holds(TimestampTz as_of, int32 limit, int64 *amount);

/* Refs of the transfers the extension makes itself; the API refuses them. */
#define LY_INTERNAL_REF "loyalty:"
extern void ly_wallet_add_debt(const LyWallet *w, const LyWallet *creditor, int64 amount,
							   TimestampTz at);

#endif							/* LOYALTY_WALLETS_H */
