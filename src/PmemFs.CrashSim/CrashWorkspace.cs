using PmemFs.Media;

namespace PmemFs.CrashSim;

/// <summary>
/// The buffer crash images are built in, reused from state to state: only the cache lines that
/// differ from the simulator's durable image (lines chosen for the previous state, lines that
/// recovery wrote, lines whose durable content changed since) are copied back before the next
/// state, so a state costs what it touches, not a copy of the region.
/// </summary>
public sealed class CrashWorkspace : IDisposable
{
    private const int Line = PmemSimulator.LineSize;
    private readonly MemoryMedia _memory;
    private readonly HashSet<long> _dirty = [];

    public CrashWorkspace(long size)
    {
        _memory = new MemoryMedia(size);
        Media = new TrackingMedia(_memory, _dirty);
    }

    /// <summary>The crash image, as a media that notes every line a store touches (and is not a <see cref="MemoryMedia"/>, so fsck replays into its own overlay).</summary>
    public IMedia Media { get; }

    /// <summary>The simulator's durable content of <paramref name="line"/> changed: copy it at the next build.</summary>
    public void DurableChanged(long line) => _dirty.Add(line);

    /// <summary>Makes the buffer equal to <paramref name="durable"/> plus the chosen version of each line in doubt.</summary>
    public void Build(ReadOnlySpan<byte> durable, List<PendingLine> lines, int[] choice)
    {
        ArgumentNullException.ThrowIfNull(lines);
        ArgumentNullException.ThrowIfNull(choice);
        foreach (long line in _dirty)
            durable.Slice((int)(line * Line), Line).CopyTo(_memory.RawBytes(line * Line, Line));
        _dirty.Clear();
        for (int i = 0; i < lines.Count; i++)
        {
            if (choice[i] == 0) continue;
            long line = lines[i].Line;
            lines[i].Versions[choice[i] - 1].CopyTo(_memory.RawBytes(line * Line, Line));
            _dirty.Add(line);
        }
    }

    public void Dispose() => _memory.Dispose();

    /// <summary>Forwards everything; records the lines of every store.</summary>
    private sealed class TrackingMedia(MemoryMedia inner, HashSet<long> dirty) : IMedia
    {
        public long Size => inner.Size;
        public StoreGranularity Granularity => inner.Granularity;
        public string Description => "crash image";

        public ReadOnlySpan<byte> Read(long offset, int length) => inner.Read(offset, length);

        public unsafe byte* PointerAt(long offset) => inner.PointerAt(offset);

        public void Write(long offset, ReadOnlySpan<byte> source)
        {
            Mark(offset, source.Length);
            inner.Write(offset, source);
        }

        public void WriteNonTemporal(long offset, ReadOnlySpan<byte> source)
        {
            Mark(offset, source.Length);
            inner.WriteNonTemporal(offset, source);
        }

        public void Fill(long offset, long length, byte value)
        {
            Mark(offset, length);
            inner.Fill(offset, length, value);
        }

        public void AtomicOr64(long offset, ulong mask)
        {
            Mark(offset, 8);
            inner.AtomicOr64(offset, mask);
        }

        public void AtomicAnd64(long offset, ulong mask)
        {
            Mark(offset, 8);
            inner.AtomicAnd64(offset, mask);
        }

        public void Flush(long offset, long length) => inner.Flush(offset, length);

        public void Drain() => inner.Drain();

        public void Dispose() { }

        private void Mark(long offset, long length)
        {
            if (length <= 0) return;
            for (long l = offset / Line, last = (offset + length - 1) / Line; l <= last; l++) dirty.Add(l);
        }
    }
}
