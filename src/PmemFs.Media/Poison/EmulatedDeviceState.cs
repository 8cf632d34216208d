using System.Globalization;
using System.Text;

namespace PmemFs.Media.Poison;

/// <summary>
/// What a real pmem device remembers about its own health, kept for an emulated region (an
/// image file) in a small text file beside it, IMAGE.poison: the injected bad ranges and an
/// unsafe shutdown count. A device's list survives power cycles and remounts; so does this
/// file. Written whole to a temporary file, synced and renamed, so a crash leaves the old or
/// the new list, never a torn one.
/// </summary>
/// <remarks>
/// The file is the emulated hardware, not file-system metadata: fsck --repair never changes
/// it, and copying the image without it copies the data without the poison, as reading a
/// real device's good sectors would.
/// </remarks>
public sealed class EmulatedDeviceState
{
    private const string Header = "# pmemfs emulated device state: bad ranges (bytes) and unsafe shutdown count; see docs/health.md";

    private EmulatedDeviceState(string? path, BadRange[] bad, long unsafeShutdowns)
    {
        Path = path;
        BadRanges = bad;
        UnsafeShutdownCount = unsafeShutdowns;
    }

    /// <summary>Where the state lives; null for a state kept in memory only (tests).</summary>
    public string? Path { get; }

    public BadRange[] BadRanges { get; private set; }

    public long UnsafeShutdownCount { get; private set; }

    /// <summary>The sidecar file of <paramref name="image"/>.</summary>
    public static string PathFor(string image) => image + ".poison";

    public static EmulatedDeviceState InMemory() => new(null, [], 0);

    /// <summary>Reads <paramref name="path"/>; a missing file is a healthy device. Throws <see cref="MediaException"/> on a malformed file.</summary>
    public static EmulatedDeviceState Load(string path)
    {
        if (!File.Exists(path)) return new EmulatedDeviceState(path, [], 0);
        var bad = new List<BadRange>();
        long usc = 0;
        int lineNo = 0;
        foreach (var raw in File.ReadLines(path))
        {
            lineNo++;
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            bool ok = words switch
            {
                ["bad", var o, var l] when long.TryParse(o, NumberStyles.None, CultureInfo.InvariantCulture, out long off)
                    && long.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out long len) && len > 0 => Add(bad, off, len),
                ["unsafe-shutdown-count", var n] => long.TryParse(n, NumberStyles.None, CultureInfo.InvariantCulture, out usc),
                _ => false,
            };
            if (!ok) throw new MediaException(path, $"line {lineNo} is not 'bad OFFSET LENGTH' or 'unsafe-shutdown-count N': {raw}");
        }
        return new EmulatedDeviceState(path, BadRange.Normalize(bad), usc);

        static bool Add(List<BadRange> to, long offset, long length)
        {
            to.Add(new BadRange(offset, length));
            return true;
        }
    }

    /// <summary>Adds [offset, +length), widened to whole sectors, and saves.</summary>
    public void Inject(long offset, long length)
    {
        Save(BadRange.Normalize([.. BadRanges, BadRange.InSectors(offset, length)]), UnsafeShutdownCount);
    }

    /// <summary>Removes [offset, +length) from the list and saves.</summary>
    public void Clear(long offset, long length) => Save(BadRange.Subtract(BadRanges, offset, length), UnsafeShutdownCount);

    /// <summary>Counts one more unsafe shutdown (what a power loss without ADR does to a real device) and saves.</summary>
    public void CountUnsafeShutdown() => Save(BadRanges, UnsafeShutdownCount + 1);

    private void Save(BadRange[] bad, long usc)
    {
        if (Path is not null)
        {
            var text = new StringBuilder().AppendLine(Header);
            text.Append(CultureInfo.InvariantCulture, $"unsafe-shutdown-count {usc}\n");
            foreach (var r in bad) text.Append(CultureInfo.InvariantCulture, $"bad {r.Offset} {r.Length}\n");
            string temp = Path + ".tmp";
            var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
            if (OperatingSystem.IsLinux()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            using (var f = new FileStream(temp, options))
            {
                f.Write(Encoding.UTF8.GetBytes(text.ToString()));
                f.Flush(flushToDisk: true);
            }
            File.Move(temp, Path, overwrite: true);
        }
        BadRanges = bad;
        UnsafeShutdownCount = usc;
    }
}
