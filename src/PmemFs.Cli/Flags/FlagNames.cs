using PmemFs.Abi;

namespace PmemFs.Cli.Flags;

/// <summary>
/// The seven persisted flags by long name and chattr letter (docs/flags.md). The order here is
/// the order names are printed in.
/// </summary>
public static class FlagNames
{
    public readonly record struct Flag(ulong Bit, string Name, char? Letter);

    public static readonly IReadOnlyList<Flag> All =
    [
        new(PmemFsIoctlAbi.FlImmutable, "immutable", 'i'),
        new(PmemFsIoctlAbi.FlAppend, "append", 'a'),
        new(PmemFsIoctlAbi.FlNoAtime, "noatime", 'A'),
        new(PmemFsIoctlAbi.FlSync, "sync", 'S'),
        new(PmemFsIoctlAbi.FlNoDump, "nodump", 'd'),
        new(PmemFsIoctlAbi.FlDax, "dax", 'x'),
        // DAX_IMMUTABLE has no Linux bit, so chattr(1) has no letter for it either.
        new(PmemFsIoctlAbi.FlDaxImmutable, "dax_immutable", null),
    ];

    public static ulong? ByName(string name)
    {
        foreach (var f in All) if (f.Name == name) return f.Bit;
        return null;
    }

    public static ulong? ByLetter(char letter)
    {
        foreach (var f in All) if (f.Letter == letter) return f.Bit;
        return null;
    }

    /// <summary>The long names of the bits set in <paramref name="flags"/>, in table order (unknown bits as 0x...).</summary>
    public static IReadOnlyList<string> Names(ulong flags)
    {
        var names = new List<string>();
        foreach (var f in All) if ((flags & f.Bit) != 0) names.Add(f.Name);
        ulong unknown = flags & ~PmemFsIoctlAbi.FlAll;
        if (unknown != 0) names.Add($"0x{unknown:x}");
        return names;
    }

    /// <summary>"dax,dax_immutable", or "-" when no flag is set (lsattr's and chattr -V's column).</summary>
    public static string Format(ulong flags) => flags == 0 ? "-" : string.Join(',', Names(flags));

    /// <summary>For error messages: "immutable (i), append (a), ..., dax_immutable".</summary>
    public static string Known => string.Join(", ", All.Select(f => f.Letter is { } l ? $"{f.Name} ({l})" : f.Name));
}
