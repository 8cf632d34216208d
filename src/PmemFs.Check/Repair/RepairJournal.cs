using System.Buffers.Binary;
using PmemFs.Format;
using PmemFs.Media;

namespace PmemFs.Check;

/// <summary>
/// Repair's record and bitmap changes go through the journal, as the engine's do: a power loss
/// during a repair must leave an image the next repair (or mount) brings to the same result.
/// Written in place, a record spanning several cache lines could be torn (the next repair
/// clears it as damaged, losing a file whose only fault was a wrong link count), and a change
/// that spans tables (the new /lost+found: its inode and the entry naming it) could be half
/// done (the next repair files the first /lost+found under a second one).
/// </summary>
/// <remarks>
/// Each transaction follows the engine's commit protocol (docs/format.md): header and body,
/// flush, drain; commit word, flush, drain; apply in place, drain; then a checkpoint (a new
/// journal header naming the next sequence as the tail), so the ring is empty again before the
/// next one. A crash before the commit word is durable loses the transaction (the next repair
/// works it out again); after it, replay applies it whole. Changes are grouped into as few
/// transactions as the engine's size limit (a quarter of the log) allows, in the order they are
/// added; only a repair too big for one transaction can be cut between two.
/// </remarks>
internal sealed class RepairJournal(IMedia media, Superblock sb, ulong seq, long offset, ulong generation)
{
    private readonly Geometry _g = sb.Geometry;
    private readonly LogTransaction _tx = new();
    private readonly int _max = (int)Math.Min(sb.Geometry.LogBytes / 4, 4 << 20);
    private ulong _seq = seq;
    private long _offset = offset;
    private ulong _generation = generation;

    /// <summary>Transactions committed so far.</summary>
    public int Committed { get; private set; }

    public void Write(long at, ReadOnlySpan<byte> bytes)
    {
        Room(16 + (bytes.Length + 7) / 8 * 8);
        _tx.Write(at, bytes);
    }

    public void Zero(long at, int length)
    {
        Room(16);
        _tx.Zero(at, length);
    }

    public void SetBits(long first, long count)
    {
        Room(16);
        _tx.SetBits(first, count);
    }

    public void ClearBits(long first, long count)
    {
        Room(16);
        _tx.ClearBits(first, count);
    }

    private void Room(int entry)
    {
        if (_tx.EncodedLength + entry > _max) Commit();
    }

    /// <summary>Commits, applies and checkpoints what was added since the last call (nothing when empty).</summary>
    public void Commit()
    {
        if (_tx.IsEmpty) return;
        if (Committed == 0) ClearStaleTransactions();
        if (LogTransaction.Validate(_tx.Body, _tx.EntryCount, _g) is { } bad)
            throw new InvalidOperationException($"repair built a bad transaction: {bad}");
        int length = _tx.EncodedLength;
        if (_offset + length > _g.LogBytes) _offset = 0; // the ring is empty after every checkpoint: 0 is free
        long abs = _g.LogOffset + _offset;
        var buf = new byte[length];
        _tx.EncodeUncommitted(_seq, buf);
        media.Write(abs, buf);
        media.Flush(abs, length);
        media.Drain();
        Span<byte> commit = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(commit, LogTransaction.CommitWord(_seq, sb.JournalSalt));
        media.Write(abs + LogTransaction.CommitWordOffset, commit);
        media.Flush(abs + LogTransaction.CommitWordOffset, 8);
        media.Drain();

        if (LogTransaction.Apply(_tx.Body, _tx.EntryCount, media, _g) is { } problem)
            throw new InvalidOperationException($"repair built a bad transaction: {problem}");
        media.Drain(); // applied stores are durable before the header says replay may skip them
        _seq++;
        _offset += length;
        if (_offset >= _g.LogBytes) _offset = 0;
        _generation++;
        JournalReplay.WriteHeader(media, _g, _generation, _seq, _offset);
        _tx.Clear();
        Committed++;
    }

    /// <summary>
    /// A damaged log can hold committed transactions past the point where replay stopped (it
    /// stops at the first one that does not verify). Their sequence numbers follow the tail's,
    /// so once repair's own transactions take those numbers, the next replay would run on into
    /// them and put their stale records back. When any transaction header in the log carries a
    /// sequence at or past the tail's (other than the uncommitted one at the tail itself), the log
    /// is emptied first (everything before the tail is applied; nothing after it can be replayed
    /// any more).
    /// </summary>
    private void ClearStaleTransactions()
    {
        var log = media.Read(_g.LogOffset, checked((int)_g.LogBytes));
        bool stale = false;
        for (int at = 0; at + LogTransaction.HeaderSize <= log.Length && !stale; at += FormatConstants.CacheLine)
        {
            var h = log.Slice(at, LogTransaction.HeaderSize);
            if (BinaryPrimitives.ReadUInt16LittleEndian(h[4..]) != LogTransaction.Magic) continue;
            ulong seq = BinaryPrimitives.ReadUInt64LittleEndian(h[8..]);
            // The transaction a crash cut at the tail (where replay looked for it, so not committed) is only overwritten.
            if (seq == _seq && (at == _offset || at == 0)) continue;
            stale = seq >= _seq;
        }
        if (!stale) return;
        media.Fill(_g.LogOffset, _g.LogBytes, 0);
        media.Flush(_g.LogOffset, _g.LogBytes);
        media.Drain();
        _offset = 0;
        _generation++;
        JournalReplay.WriteHeader(media, _g, _generation, _seq, _offset);
    }
}
