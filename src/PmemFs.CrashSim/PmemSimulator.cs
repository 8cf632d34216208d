using PmemFs.Media;

namespace PmemFs.CrashSim;

/// <summary>A recording frozen for simulation: the events, the stored bytes, and the region size.</summary>
public sealed class Recording
{
    public Recording(MediaRecord[] records, byte[] payload, long size)
    {
        Records = records;
        Payload = payload;
        Size = size;
    }

    public static Recording From(RecordingMedia media)
    {
        ArgumentNullException.ThrowIfNull(media);
        return new Recording(media.Records.ToArray(), media.Payload.ToArray(), media.Size);
    }

    public MediaRecord[] Records { get; }
    public byte[] Payload { get; }
    public long Size { get; }

    public ReadOnlySpan<byte> BytesOf(in MediaRecord r) => Payload.AsSpan((int)r.Arg, (int)r.Length);
}

/// <summary>A cache line that may or may not have reached the media at a crash point, with the contents it could hold.</summary>
/// <param name="Line">Line number (byte offset / 64).</param>
/// <param name="Versions">Distinct contents other than the durable one, oldest first; the last is the latest store.</param>
public sealed record PendingLine(long Line, byte[][] Versions);

/// <summary>
/// Replays a <see cref="Recording"/> under the x86 persistent-memory model and tells, at any
/// position of the log, what is certainly durable and which cache lines are still in doubt.
/// </summary>
/// <remarks>
/// The model (docs/crash-testing.md):
/// <list type="bullet">
/// <item>A cached store (Write, Fill, AtomicOr64/And64) changes a 64-byte line in the CPU cache.
/// It is durable once a Flush covering the line was issued after it and a Drain followed:
/// the line's content as of that Flush is then on the media.</item>
/// <item>A non-temporal store is durable at the next Drain (it is treated as a store followed by
/// a flush of the lines it touches).</item>
/// <item>Until then the line may be written back at any moment (eviction), so at a crash its
/// media content is the durable version or any version it went through since (each store
/// call counts as one version; at most <see cref="MaxVersions"/> are kept, the oldest
/// intermediate ones are dropped first). Lines are independent of each other. A store call is
/// atomic per line (no torn line); 8-byte stores are atomic on x86 anyway.</item>
/// </list>
/// </remarks>
public sealed class PmemSimulator
{
    public const int LineSize = 64;

    private readonly Recording _rec;
    private readonly byte[] _volatile;
    private readonly byte[] _durable;
    private readonly Dictionary<long, LineHistory> _pending = [];
    private readonly HashSet<long> _flushed = [];
    private int _pos;

    private sealed class LineHistory
    {
        public readonly List<byte[]> Versions = [];
        public int FlushedUpTo = -1;
    }

    /// <param name="initial">The media before the first recorded event (null: all zero).</param>
    public PmemSimulator(Recording recording, ReadOnlySpan<byte> initial = default)
    {
        ArgumentNullException.ThrowIfNull(recording);
        if (recording.Size > Array.MaxLength) throw new ArgumentException("region too large to simulate");
        _rec = recording;
        _volatile = new byte[recording.Size];
        _durable = new byte[recording.Size];
        if (!initial.IsEmpty)
        {
            initial.CopyTo(_volatile);
            initial.CopyTo(_durable);
        }
    }

    /// <summary>Most intermediate versions kept per pending line (the durable and the latest are always kept).</summary>
    public int MaxVersions { get; init; } = 8;

    /// <summary>Called with a line number whenever the durable content of that line changes.</summary>
    public Action<long>? DurableLineChanged { get; set; }

    /// <summary>Events applied so far.</summary>
    public int Position => _pos;

    /// <summary>The media content certainly persistent at <see cref="Position"/>.</summary>
    public ReadOnlySpan<byte> Durable => _durable;

    /// <summary>The content a program would read (every store applied).</summary>
    public ReadOnlySpan<byte> Volatile => _volatile;

    public void AdvanceTo(int position)
    {
        if (position < _pos) throw new InvalidOperationException($"cannot go back from {_pos} to {position}");
        var records = _rec.Records;
        while (_pos < position) Step(records[_pos++]);
    }

    /// <summary>Lines in doubt at <see cref="Position"/>, by address; versions equal to the durable content are left out.</summary>
    public List<PendingLine> PendingLines()
    {
        var list = new List<PendingLine>();
        foreach (var (line, h) in _pending)
        {
            var durable = _durable.AsSpan((int)(line * LineSize), LineSize);
            var distinct = new List<byte[]>();
            foreach (var v in h.Versions)
            {
                if (v.AsSpan().SequenceEqual(durable)) continue;
                if (distinct.Exists(d => d.AsSpan().SequenceEqual(v))) continue;
                distinct.Add(v);
            }
            if (distinct.Count > 0) list.Add(new PendingLine(line, [.. distinct]));
        }
        list.Sort((a, b) => a.Line.CompareTo(b.Line));
        return list;
    }

    private void Step(in MediaRecord r)
    {
        switch (r.Kind)
        {
            case RecordKind.Write:
            case RecordKind.WriteNonTemporal:
                _rec.BytesOf(r).CopyTo(_volatile.AsSpan((int)r.Offset));
                Stored(r.Offset, r.Length, nonTemporal: r.Kind == RecordKind.WriteNonTemporal);
                break;
            case RecordKind.Fill:
                _volatile.AsSpan((int)r.Offset, (int)r.Length).Fill((byte)r.Arg);
                Stored(r.Offset, r.Length, nonTemporal: false);
                break;
            case RecordKind.AtomicOr64:
            case RecordKind.AtomicAnd64:
            {
                var word = _volatile.AsSpan((int)r.Offset, 8);
                ulong v = BitConverter.ToUInt64(word);
                v = r.Kind == RecordKind.AtomicOr64 ? v | r.Arg : v & r.Arg;
                BitConverter.TryWriteBytes(word, v);
                Stored(r.Offset, 8, nonTemporal: false);
                break;
            }
            case RecordKind.Flush:
                Flush(r.Offset, r.Length);
                break;
            case RecordKind.Drain:
                Drain();
                break;
            default:
                break; // markers
        }
    }

    private void Stored(long offset, long length, bool nonTemporal)
    {
        if (length <= 0) return;
        long first = offset / LineSize, last = (offset + length - 1) / LineSize;
        for (long line = first; line <= last; line++)
        {
            if (!_pending.TryGetValue(line, out var h)) _pending[line] = h = new LineHistory();
            h.Versions.Add(_volatile.AsSpan((int)(line * LineSize), LineSize).ToArray());
            if (h.Versions.Count > MaxVersions + 1) Trim(h);
            if (nonTemporal)
            {
                h.FlushedUpTo = h.Versions.Count - 1;
                _flushed.Add(line);
            }
        }
    }

    /// <summary>Drops the oldest intermediate version that is neither the flushed one nor the latest.</summary>
    private static void Trim(LineHistory h)
    {
        for (int i = 0; i < h.Versions.Count - 1; i++)
        {
            if (i == h.FlushedUpTo) continue;
            h.Versions.RemoveAt(i);
            if (h.FlushedUpTo > i) h.FlushedUpTo--;
            return;
        }
    }

    private void Flush(long offset, long length)
    {
        if (length <= 0 || _pending.Count == 0) return;
        long first = offset / LineSize, last = (offset + length - 1) / LineSize;
        if (last - first + 1 > _pending.Count)
        {
            foreach (var (line, h) in _pending)
                if (line >= first && line <= last) MarkFlushed(line, h);
        }
        else
        {
            for (long line = first; line <= last; line++)
                if (_pending.TryGetValue(line, out var h)) MarkFlushed(line, h);
        }
    }

    private void MarkFlushed(long line, LineHistory h)
    {
        h.FlushedUpTo = h.Versions.Count - 1;
        _flushed.Add(line);
    }

    private void Drain()
    {
        foreach (long line in _flushed)
        {
            var h = _pending[line];
            var dst = _durable.AsSpan((int)(line * LineSize), LineSize);
            var v = h.Versions[h.FlushedUpTo];
            if (!v.AsSpan().SequenceEqual(dst))
            {
                v.CopyTo(dst);
                DurableLineChanged?.Invoke(line);
            }
            h.Versions.RemoveRange(0, h.FlushedUpTo + 1);
            h.FlushedUpTo = -1;
            if (h.Versions.Count == 0) _pending.Remove(line);
        }
        _flushed.Clear();
    }
}
