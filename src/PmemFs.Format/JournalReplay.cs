using PmemFs.Media;

namespace PmemFs.Format;

/// <summary>What a look at the journal, without replaying it, found.</summary>
public enum JournalState { Clean, Pending, Unreadable }

/// <summary>What replay found and where the next transaction goes.</summary>
public sealed record ReplayResult(int Replayed, ulong NextSeq, long NextOffset, ulong HeaderGeneration, string? Problem);

/// <summary>
/// Redo recovery: from the tail named in the journal header, apply every committed transaction
/// in sequence order. Applying a transaction that was already applied is harmless (entries are
/// idempotent and replayed in order), so recovery never needs to know how far apply got.
/// </summary>
public static class JournalReplay
{
    public static ReplayResult Recover(IMedia media, Superblock sb)
    {
        var g = sb.Geometry;
        var header = DiskJournalHeader.ReadNewest(media.Read(g.JournalHeaderOffset, DiskJournalHeader.Size * 2), g.LogBytes, out var headerProblem);
        if (header is null)
            return new ReplayResult(0, 0, 0, 0, $"journal header unreadable ({headerProblem ?? "both slots empty"})");

        ulong seq = header.Value.TailSeq;
        long offset = header.Value.TailOffset;
        int replayed = 0;
        var log = media.Read(g.LogOffset, checked((int)g.LogBytes));
        while (true)
        {
            if (!TryAt(log, offset, seq, sb.JournalSalt, out var body, out int entries, out int length))
            {
                // A transaction that did not fit before the end of the log was written at 0.
                if (offset == 0 || !TryAt(log, 0, seq, sb.JournalSalt, out body, out entries, out length)) break;
                offset = 0;
            }
            string? problem = LogTransaction.Apply(body, entries, media, g);
            if (problem is not null)
                return new ReplayResult(replayed, seq, offset, header.Value.Generation, $"journal transaction {seq}: {problem}");
            replayed++;
            seq++;
            offset += length;
            if (offset >= g.LogBytes) offset = 0;
        }
        media.Drain();
        return new ReplayResult(replayed, seq, offset, header.Value.Generation, null);
    }

    /// <summary>Without writing: whether replay would apply anything (a committed transaction at the tail).</summary>
    public static JournalState Inspect(IMedia media, Superblock sb)
    {
        var g = sb.Geometry;
        var header = DiskJournalHeader.ReadNewest(media.Read(g.JournalHeaderOffset, DiskJournalHeader.Size * 2), g.LogBytes, out _);
        if (header is null) return JournalState.Unreadable;
        var log = media.Read(g.LogOffset, checked((int)g.LogBytes));
        var (seq, offset) = (header.Value.TailSeq, header.Value.TailOffset);
        bool pending = TryAt(log, offset, seq, sb.JournalSalt, out _, out _, out _) || TryAt(log, 0, seq, sb.JournalSalt, out _, out _, out _);
        return pending ? JournalState.Pending : JournalState.Clean;
    }

    private static bool TryAt(ReadOnlySpan<byte> log, long offset, ulong seq, ulong salt, out ReadOnlySpan<byte> body, out int entries, out int length)
    {
        body = default;
        entries = 0;
        length = 0;
        return offset < log.Length && LogTransaction.TryReadCommitted(log[(int)offset..], seq, salt, out body, out entries, out length);
    }

    /// <summary>Writes a header naming (<paramref name="seq"/>, <paramref name="offset"/>) as the tail, durably.</summary>
    public static void WriteHeader(IMedia media, Geometry g, ulong generation, ulong seq, long offset)
    {
        Span<byte> buf = stackalloc byte[DiskJournalHeader.Size];
        DiskJournalHeader.Seal(new JournalHeader(generation, seq, offset), buf);
        long at = DiskJournalHeader.SlotOffset(g, generation);
        media.Write(at, buf);
        media.Persist(at, DiskJournalHeader.Size);
    }
}
