namespace PmemFs.Engine;

/// <summary>Who asks: from the FUSE request (uid, gid, pid). Root is uid 0.</summary>
public readonly record struct Credentials(uint Uid, uint Gid, int Pid = 0)
{
    public static readonly Credentials Root = new(0, 0);
    public bool IsRoot => Uid == 0;
}
