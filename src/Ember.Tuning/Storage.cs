using System.Diagnostics;
using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Ember.Tuning;

/// <summary>Where a study's trials live: in memory for one process, in SQLite to survive a kill and to be shared by
/// worker processes.</summary>
public interface IStudyStorage
{
    /// <summary>The id of the study <paramref name="name"/>, created if missing (an existing one must have the same direction).</summary>
    int CreateOrLoadStudy(string name, StudyDirection direction);
    /// <summary>A new running trial with the next number.</summary>
    (int Id, int Number) CreateTrial(int studyId);
    /// <summary>Records a parameter's internal value.</summary>
    void SetParam(int trialId, string name, double value, ParamDistribution distribution);
    /// <summary>Records an intermediate value.</summary>
    void SetIntermediate(int trialId, int step, double value);
    /// <summary>Records a numeric attribute (the pruner's rung values).</summary>
    void SetAttr(int trialId, string key, double value);
    /// <summary>Ends a trial.</summary>
    void Finish(int trialId, TrialState state, double? value);
    /// <summary>Says the trial's worker is alive.</summary>
    void Heartbeat(int trialId);
    /// <summary>One trial.</summary>
    FrozenTrial GetTrial(int trialId);
    /// <summary>Every trial of a study, by number.</summary>
    IReadOnlyList<FrozenTrial> GetTrials(int studyId);
    /// <summary>Marks as failed the running trials whose worker is gone: no heartbeat for <paramref name="staleAfter"/>,
    /// or (on this host) its process no longer exists. Returns how many.</summary>
    int FailStale(int studyId, TimeSpan staleAfter);
}

/// <summary>A study kept in this process's memory.</summary>
public sealed class InMemoryStorage : IStudyStorage
{
    private sealed class T
    {
        public int Id, Number, Study;
        public TrialState State = TrialState.Running;
        public double? Value;
        public readonly Dictionary<string, double> Params = new();
        public readonly Dictionary<string, ParamDistribution> Dists = new();
        public readonly SortedDictionary<int, double> Intermediate = new();
        public readonly Dictionary<string, double> Attrs = new();
        public DateTime Start = DateTime.UtcNow;
        public DateTime? End;
    }

    private readonly object _gate = new();
    private readonly Dictionary<string, (int Id, StudyDirection Direction)> _studies = new();
    private readonly List<T> _trials = new();

    /// <inheritdoc/>
    public int CreateOrLoadStudy(string name, StudyDirection direction)
    {
        lock (_gate)
        {
            if (_studies.TryGetValue(name, out var s))
            {
                if (s.Direction != direction) throw new InvalidOperationException($"Study '{name}' exists with direction {s.Direction}, not {direction}");
                return s.Id;
            }
            int id = _studies.Count + 1;
            _studies[name] = (id, direction);
            return id;
        }
    }

    /// <inheritdoc/>
    public (int Id, int Number) CreateTrial(int studyId)
    {
        lock (_gate)
        {
            var t = new T { Id = _trials.Count + 1, Study = studyId, Number = _trials.Count(x => x.Study == studyId) };
            _trials.Add(t);
            return (t.Id, t.Number);
        }
    }

    private T Get(int id) => _trials[id - 1];

    /// <inheritdoc/>
    public void SetParam(int trialId, string name, double value, ParamDistribution distribution)
    {
        lock (_gate) { var t = Get(trialId); t.Params[name] = value; t.Dists[name] = distribution; }
    }

    /// <inheritdoc/>
    public void SetIntermediate(int trialId, int step, double value)
    {
        lock (_gate) Get(trialId).Intermediate[step] = value;
    }

    /// <inheritdoc/>
    public void SetAttr(int trialId, string key, double value)
    {
        lock (_gate) Get(trialId).Attrs[key] = value;
    }

    /// <inheritdoc/>
    public void Finish(int trialId, TrialState state, double? value)
    {
        lock (_gate) { var t = Get(trialId); t.State = state; t.Value = value; t.End = DateTime.UtcNow; }
    }

    /// <inheritdoc/>
    public void Heartbeat(int trialId) { }

    /// <inheritdoc/>
    public FrozenTrial GetTrial(int trialId)
    {
        lock (_gate) return Freeze(Get(trialId));
    }

    /// <inheritdoc/>
    public IReadOnlyList<FrozenTrial> GetTrials(int studyId)
    {
        lock (_gate) return _trials.Where(t => t.Study == studyId).Select(Freeze).ToList();
    }

    /// <inheritdoc/>
    public int FailStale(int studyId, TimeSpan staleAfter) => 0;

    private static FrozenTrial Freeze(T t) => new(t.Id, t.Number, t.State, t.Value, new Dictionary<string, double>(t.Params),
        new Dictionary<string, ParamDistribution>(t.Dists), new Dictionary<int, double>(t.Intermediate), new Dictionary<string, double>(t.Attrs), t.Start, t.End);
}

/// <summary>
/// A study in a SQLite file (Microsoft.Data.Sqlite), in write-ahead-log mode with a busy timeout, so that several
/// worker processes can share it: each trial's number is taken in an immediate transaction, every parameter and
/// intermediate value is written when it is made (a killed run loses only the trial it was in), and each running
/// trial carries its worker's host, process id and a heartbeat, so that a restarted or parallel worker can tell a
/// trial whose worker died (<see cref="FailStale"/>).
/// </summary>
public sealed class SqliteStorage : IStudyStorage, IDisposable
{
    private readonly SqliteConnection _db;
    private readonly object _gate = new();

    /// <summary>Opens (or creates) the study file <paramref name="path"/>.</summary>
    public SqliteStorage(string path)
    {
        Path = System.IO.Path.GetFullPath(path);
        var dir = System.IO.Path.GetDirectoryName(Path);
        if (dir is not null) Directory.CreateDirectory(dir);
        _db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path, Pooling = false }.ToString());
        try
        {
            _db.Open();
            Exec("PRAGMA busy_timeout = 60000");
            Exec("PRAGMA journal_mode = WAL");
            Exec("PRAGMA synchronous = NORMAL");
            Exec("""
                CREATE TABLE IF NOT EXISTS studies (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, direction TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS trials (id INTEGER PRIMARY KEY, study_id INTEGER NOT NULL, number INTEGER NOT NULL, state TEXT NOT NULL,
                  value REAL, start_time TEXT NOT NULL, end_time TEXT, heartbeat TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,
                  UNIQUE (study_id, number));
                CREATE TABLE IF NOT EXISTS params (trial_id INTEGER NOT NULL, name TEXT NOT NULL, value REAL NOT NULL, distribution TEXT NOT NULL, PRIMARY KEY (trial_id, name));
                CREATE TABLE IF NOT EXISTS intermediate (trial_id INTEGER NOT NULL, step INTEGER NOT NULL, value REAL, PRIMARY KEY (trial_id, step));
                CREATE TABLE IF NOT EXISTS attrs (trial_id INTEGER NOT NULL, key TEXT NOT NULL, value REAL NOT NULL, PRIMARY KEY (trial_id, key));
                """);
        }
        catch (SqliteException e)
        {
            _db.Dispose();
            throw new IOException($"SqliteStorage: cannot open the study file '{Path}': {e.Message}", e);
        }
    }

    /// <summary>The study file.</summary>
    public string Path { get; }

    private static string Now() => DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture);

    private void Exec(string sql, params (string Name, object? Value)[] args)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (n, v) in args) cmd.Parameters.AddWithValue(n, v ?? DBNull.Value);
        cmd.ExecuteNonQuery();
    }

    private T Scalar<T>(string sql, params (string Name, object? Value)[] args)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (n, v) in args) cmd.Parameters.AddWithValue(n, v ?? DBNull.Value);
        var r = cmd.ExecuteScalar();
        return r is null or DBNull ? default! : (T)Convert.ChangeType(r, typeof(T), CultureInfo.InvariantCulture);
    }

    /// <inheritdoc/>
    public int CreateOrLoadStudy(string name, StudyDirection direction)
    {
        lock (_gate)
        {
            using var tx = _db.BeginTransaction(deferred: false);
            string? existing = Scalar<string?>("SELECT direction FROM studies WHERE name = $n", ("$n", name));
            if (existing is not null)
            {
                if (existing != direction.ToString())
                    throw new InvalidOperationException($"Study '{name}' in {Path} has direction {existing}, not {direction}");
            }
            else Exec("INSERT INTO studies (name, direction) VALUES ($n, $d)", ("$n", name), ("$d", direction.ToString()));
            int id = (int)Scalar<long>("SELECT id FROM studies WHERE name = $n", ("$n", name));
            tx.Commit();
            return id;
        }
    }

    /// <inheritdoc/>
    public (int Id, int Number) CreateTrial(int studyId)
    {
        lock (_gate)
        {
            using var tx = _db.BeginTransaction(deferred: false);   // BEGIN IMMEDIATE: one writer takes the next number
            int number = (int)Scalar<long>("SELECT COALESCE(MAX(number) + 1, 0) FROM trials WHERE study_id = $s", ("$s", studyId));
            string now = Now();
            Exec("INSERT INTO trials (study_id, number, state, start_time, heartbeat, host, pid) VALUES ($s, $n, 'Running', $t, $t, $h, $p)",
                ("$s", studyId), ("$n", number), ("$t", now), ("$h", Environment.MachineName), ("$p", Environment.ProcessId));
            int id = (int)Scalar<long>("SELECT last_insert_rowid()");
            tx.Commit();
            return (id, number);
        }
    }

    /// <inheritdoc/>
    public void SetParam(int trialId, string name, double value, ParamDistribution distribution)
    {
        lock (_gate) Exec("INSERT OR REPLACE INTO params (trial_id, name, value, distribution) VALUES ($t, $n, $v, $d)",
            ("$t", trialId), ("$n", name), ("$v", value), ("$d", distribution.ToJson()));
    }

    /// <inheritdoc/>
    public void SetIntermediate(int trialId, int step, double value)
    {
        lock (_gate)
        {
            Exec("INSERT OR REPLACE INTO intermediate (trial_id, step, value) VALUES ($t, $s, $v)", ("$t", trialId), ("$s", step), ("$v", double.IsNaN(value) ? null : value));
            Exec("UPDATE trials SET heartbeat = $h WHERE id = $t", ("$h", Now()), ("$t", trialId));
        }
    }

    /// <inheritdoc/>
    public void SetAttr(int trialId, string key, double value)
    {
        lock (_gate) Exec("INSERT OR REPLACE INTO attrs (trial_id, key, value) VALUES ($t, $k, $v)", ("$t", trialId), ("$k", key), ("$v", value));
    }

    /// <inheritdoc/>
    public void Finish(int trialId, TrialState state, double? value)
    {
        lock (_gate) Exec("UPDATE trials SET state = $s, value = $v, end_time = $e WHERE id = $t",
            ("$s", state.ToString()), ("$v", value), ("$e", Now()), ("$t", trialId));
    }

    /// <inheritdoc/>
    public void Heartbeat(int trialId)
    {
        lock (_gate) Exec("UPDATE trials SET heartbeat = $h WHERE id = $t", ("$h", Now()), ("$t", trialId));
    }

    /// <inheritdoc/>
    public FrozenTrial GetTrial(int trialId)
    {
        lock (_gate) return Read("WHERE t.id = $x", trialId).Single();
    }

    /// <inheritdoc/>
    public IReadOnlyList<FrozenTrial> GetTrials(int studyId)
    {
        lock (_gate) return Read("WHERE t.study_id = $x", studyId);
    }

    private List<FrozenTrial> Read(string where, int key)
    {
        var rows = new List<(int Id, int Number, TrialState State, double? Value, DateTime Start, DateTime? End)>();
        using (var cmd = _db.CreateCommand())
        {
            cmd.CommandText = $"SELECT t.id, t.number, t.state, t.value, t.start_time, t.end_time FROM trials t {where} ORDER BY t.number";
            cmd.Parameters.AddWithValue("$x", key);
            using var r = cmd.ExecuteReader();
            while (r.Read())
                rows.Add((r.GetInt32(0), r.GetInt32(1), Enum.Parse<TrialState>(r.GetString(2)), r.IsDBNull(3) ? null : r.GetDouble(3),
                    DateTime.Parse(r.GetString(4), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind),
                    r.IsDBNull(5) ? null : DateTime.Parse(r.GetString(5), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind)));
        }
        var ps = new Dictionary<int, Dictionary<string, double>>();
        var ds = new Dictionary<int, Dictionary<string, ParamDistribution>>();
        var iv = new Dictionary<int, Dictionary<int, double>>();
        var at = new Dictionary<int, Dictionary<string, double>>();
        string sub = where.Replace("t.id", "t2.id").Replace("t.study_id", "t2.study_id");
        using (var cmd = _db.CreateCommand())
        {
            cmd.CommandText = $"SELECT p.trial_id, p.name, p.value, p.distribution FROM params p JOIN trials t2 ON t2.id = p.trial_id {sub}";
            cmd.Parameters.AddWithValue("$x", key);
            using var r = cmd.ExecuteReader();
            var cache = new Dictionary<string, ParamDistribution>();
            while (r.Read())
            {
                int id = r.GetInt32(0);
                string json = r.GetString(3);
                if (!cache.TryGetValue(json, out var d)) cache[json] = d = ParamDistribution.FromJson(json);
                (ps.TryGetValue(id, out var p) ? p : ps[id] = new())[r.GetString(1)] = r.GetDouble(2);
                (ds.TryGetValue(id, out var q) ? q : ds[id] = new())[r.GetString(1)] = d;
            }
        }
        using (var cmd = _db.CreateCommand())
        {
            cmd.CommandText = $"SELECT i.trial_id, i.step, i.value FROM intermediate i JOIN trials t2 ON t2.id = i.trial_id {sub}";
            cmd.Parameters.AddWithValue("$x", key);
            using var r = cmd.ExecuteReader();
            while (r.Read()) (iv.TryGetValue(r.GetInt32(0), out var m) ? m : iv[r.GetInt32(0)] = new())[r.GetInt32(1)] = r.IsDBNull(2) ? double.NaN : r.GetDouble(2);
        }
        using (var cmd = _db.CreateCommand())
        {
            cmd.CommandText = $"SELECT a.trial_id, a.key, a.value FROM attrs a JOIN trials t2 ON t2.id = a.trial_id {sub}";
            cmd.Parameters.AddWithValue("$x", key);
            using var r = cmd.ExecuteReader();
            while (r.Read()) (at.TryGetValue(r.GetInt32(0), out var m) ? m : at[r.GetInt32(0)] = new())[r.GetString(1)] = r.GetDouble(2);
        }
        return rows.Select(t => new FrozenTrial(t.Id, t.Number, t.State, t.Value, ps.GetValueOrDefault(t.Id) ?? new(), ds.GetValueOrDefault(t.Id) ?? new(),
            iv.GetValueOrDefault(t.Id) ?? new(), at.GetValueOrDefault(t.Id) ?? new(), t.Start, t.End)).ToList();
    }

    /// <inheritdoc/>
    public int FailStale(int studyId, TimeSpan staleAfter)
    {
        lock (_gate)
        {
            var stale = new List<int>();
            using (var cmd = _db.CreateCommand())
            {
                cmd.CommandText = "SELECT id, heartbeat, host, pid FROM trials WHERE study_id = $s AND state = 'Running'";
                cmd.Parameters.AddWithValue("$s", studyId);
                using var r = cmd.ExecuteReader();
                while (r.Read())
                {
                    var beat = DateTime.Parse(r.GetString(1), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
                    bool sameHost = r.GetString(2) == Environment.MachineName;
                    int pid = r.GetInt32(3);
                    bool gone = sameHost && pid != Environment.ProcessId && !Alive(pid);
                    if (gone || DateTime.UtcNow - beat > staleAfter) stale.Add(r.GetInt32(0));
                }
            }
            foreach (int id in stale) Exec("UPDATE trials SET state = 'Fail', end_time = $e WHERE id = $t AND state = 'Running'", ("$e", Now()), ("$t", id));
            return stale.Count;
        }
    }

    private static bool Alive(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    /// <summary>Closes the file.</summary>
    public void Dispose() => _db.Dispose();
}
