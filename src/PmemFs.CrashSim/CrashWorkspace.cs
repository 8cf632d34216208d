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

    /// <summary>Makes the buffer exactly <paramref name="content"/> (a crash image whose recovery is crashed in turn).</summary>
    public void Reset(ReadOnlySpan<byte> content)
    {
        content.CopyTo(_memory.RawBytes(0, content.Length));
        _dirty.Clear();
    }

    public void Dispose() => _memory.Dispose();

    /// <summary>Forwards everything (and leaves the buffer to the workspace); records the lines of every store.</summary>
    private sealed class TrackingMedia(MemoryMedia inner, HashSet<long> dirty) : MediaDecorator(inner, ownsInner: false)
    {
        public override string Description => "crash image";

        protected override void Before(MediaOperation operation, ReadOnlySpan<byte> bytes, ulong value)
        {
            if (!operation.IsStore || operation.Length <= 0) return;
            long last = (operation.Offset + operation.Length - 1) / Line;
            for (long l = operation.Offset / Line; l <= last; l++) dirty.Add(l);
        }
    }
}
