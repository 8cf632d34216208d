using PmemFs.Format;

namespace PmemFs.Check;

/// <summary>
/// Phase 2: the journal header is readable (one valid slot is enough: a torn checkpoint leaves
/// the other one bad, which is normal after a crash), then every committed transaction is
/// replayed into the private copy (or fsck's in-memory overlay) so later phases see what the
/// next mount would.
/// </summary>
internal static class Phase2Journal
{
    public static void Run(FsckContext ctx)
    {
        var g = ctx.Geometry;
        ctx.Report("journal", 0, 1);
        var header = DiskJournalHeader.ReadNewest(ctx.Media.Read(g.JournalHeaderOffset, DiskJournalHeader.Size * 2), g.LogBytes, out var slotProblem);
        if (header is null)
        {
            ctx.Problem("journal", $"header unreadable: no valid slot ({slotProblem ?? "both slots are empty"}); nothing can be replayed");
            return;
        }
        if (slotProblem is not null)
            ctx.Note($"journal: header {slotProblem} (the other slot is valid; a checkpoint interrupted by a crash leaves this)");

        ReplayResult result;
        try
        {
            result = JournalReplay.Recover(ctx.Media, ctx.Superblock);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            ctx.Problem("journal", $"replay failed: {e.GetType().Name}: {e.Message}");
            return;
        }
        ctx.TransactionsReplayed = result.Replayed;
        if (result.Problem is not null)
            ctx.Problem("journal", $"replay failed after {result.Replayed} transaction(s): {result.Problem}");
        else if (result.Replayed == 0)
            ctx.Note("journal: clean, nothing to replay");
        if (result.Replayed > 0)
            ctx.Note($"journal: replayed {result.Replayed} committed transaction(s) (from sequence {header.Value.TailSeq}) into fsck's private view; the image itself is not written");
        ctx.Report("journal", 1, 1);
    }
}
