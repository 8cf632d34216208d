using PmemFs.Format;
using PmemFs.Media;
using PmemFs.Media.Poison;

namespace PmemFs.Engine.Health;

/// <summary>
/// Salvage (docs/health.md): a read-only mount never writes the image, yet must not refuse one
/// that only a read-write mount's recovery would make whole. A pending journal is replayed into
/// a private copy-on-write view (<see cref="CopyOnWriteOverlay"/>, as fsck does), so the mount sees
/// what the next read-write mount will; a journal whose header or a transaction is unreadable is
/// replayed as far as it can be and the tables are mounted as they stand (damage confinement
/// copes with what is inconsistent); a damaged primary superblock is read from its copy.
/// </summary>
internal static class ReadOnlySalvage
{
    /// <summary>The media the read-only mount reads (a private view when there was anything to replay) and what replay did.</summary>
    public static (IMedia View, ReplayResult Replay) Open(IMedia media, OpenedSuperblock opened, FileSystemHealth health, string name)
    {
        var sb = opened.Superblock;
        if (opened.UsedCopy != SuperblockCopy.Primary)
            health.Record(HealthEventKind.Salvaged, 0, -1, 0,
                $"{name}: the primary superblock is damaged ({opened.PrimaryProblem}); mounted read-only from its copy (a read-write mount or pmemfs fsck --repair rewrites it)");
        var state = JournalReplay.Inspect(PoisonMaskedMedia.Over(media), sb);
        if (state == JournalState.Clean) return (media, new ReplayResult(0, 0, 0, 0, null));
        if (state == JournalState.Unreadable)
        {
            health.Record(HealthEventKind.Salvaged, 0, -1, 0,
                $"{name}: the journal header is unreadable; mounted read-only with the tables as its last checkpoint left them (transactions after it are not seen); run pmemfs fsck --repair");
            return (media, new ReplayResult(0, 0, 0, 0, null));
        }
        var view = new CopyOnWriteOverlay(media);
        // Replay reads through the poison mask (never a load from a bad line); its stores reach only the view.
        var replay = JournalReplay.Recover(PoisonMaskedMedia.Over(view), sb);
        health.Record(HealthEventKind.Salvaged, 0, -1, 0, replay.Problem is null
            ? $"{name}: the journal held {replay.Replayed} committed transaction(s); replayed into a private view for this read-only mount, the image is unchanged (the next read-write mount replays them)"
            : $"{name}: journal replay stopped after {replay.Replayed} transaction(s) ({replay.Problem}); mounted read-only with what it holds, the image is unchanged; run pmemfs fsck --repair");
        return (view, replay with { Problem = null });
    }
}
