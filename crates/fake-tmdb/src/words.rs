//! Word lists and reference data that the synthetic catalog draws from.
//! Kept out of rustfmt's reach so the lists stay compact and readable.

pub(crate) const ADJECTIVES: [&str; 40] = [
    "Silent", "Golden", "Broken", "Last", "Hidden", "Crimson", "Eternal", "Forgotten", "Midnight",
    "Savage", "Distant", "Burning", "Frozen", "Wild", "Lost", "Secret", "Dark", "Shattered",
    "Electric", "Iron", "Scarlet", "Hollow", "Final", "Restless", "Wicked", "Velvet", "Endless",
    "Fallen", "Quiet", "Bitter", "Sacred", "Lonely", "Starlit", "Crooked", "Glass", "Infinite",
    "Rising", "Northern", "Paper", "Neon",
];

pub(crate) const NOUNS: [&str; 50] = [
    "River", "Empire", "Horizon", "Kingdom", "Shadow", "Garden", "Voyage", "Promise", "Storm",
    "Legacy", "Frontier", "Harbor", "Symphony", "Heist", "Winter", "Summer", "Island", "Mirror",
    "Station", "Highway", "Fortress", "Orchard", "Circus", "Lighthouse", "Signal", "Crown",
    "Desert", "Machine", "Ocean", "Requiem", "City", "Game", "Hunter", "Stranger", "Detective",
    "Witness", "Dream", "Planet", "Mountain", "Letter", "Sky", "Road", "Forest", "Code", "Engine",
    "Tide", "Vendetta", "Protocol", "Dynasty", "Reckoning",
];

/// Title prefixes. None is an adjective, so every title splits back into exactly one
/// (prefix, adjective, noun) triple: that is what makes titles unique per id.
pub(crate) const TITLE_PREFIXES: [&str; 8] = [
    "The ", "", "Return to the ", "Beyond the ", "Song of the ", "Escape from the ",
    "Tales of the ", "Under the ",
];

pub(crate) const ROLES: [&str; 16] = [
    "a retired detective", "a young pilot", "an aging boxer", "a small-town teacher",
    "a brilliant hacker", "a grieving widow", "two estranged brothers", "a rookie cop",
    "a disgraced surgeon", "a runaway heiress", "a weary smuggler", "a gifted violinist",
    "a stubborn farmer", "an ambitious journalist", "a lonely astronaut", "a street magician",
];

pub(crate) const INCIDENTS: [&str; 12] = [
    "discovers a map to a long-lost treasure", "is framed for a crime they did not commit",
    "receives a letter from a stranger", "wakes up with no memory of the past week",
    "uncovers a conspiracy reaching the highest levels of power", "inherits a crumbling estate",
    "witnesses a murder", "picks up a strange signal from deep space", "is offered one last job",
    "returns home after twenty years", "makes a bet with the wrong people",
    "finds a door that should not exist",
];

pub(crate) const STAKES: [&str; 10] = [
    "must race against time to save the people they love", "must confront the ghosts of the past",
    "must learn to trust again", "must outwit a ruthless enemy",
    "must choose between duty and family", "must survive a single impossible night",
    "must expose the truth before it is buried forever", "must lead an unlikely band of misfits",
    "must win back everything they lost", "must stop a catastrophe no one else believes in",
];

pub(crate) const SETTINGS: [&str; 10] = [
    "1970s Los Angeles", "a remote Arctic research station", "post-war Berlin", "near-future Tokyo",
    "a sleepy coastal village", "the streets of Mumbai",
    "a generation ship bound for a distant star", "Depression-era Chicago",
    "the Scottish Highlands", "a glittering Monte Carlo casino",
];

pub(crate) const TAGLINES: [&str; 12] = [
    "Some secrets never stay buried.", "Every legend has a beginning.", "The hunt is on.",
    "Trust no one.", "One night can change everything.", "Nothing is what it seems.",
    "The past is never past.", "Hope is the strongest weapon.", "Fear has a new name.",
    "Love finds a way.", "No way back.", "The truth is out there.",
];

/// Real TMDB movie genre ids and names.
pub(crate) const GENRES: [(u32, &str); 18] = [
    (28, "Action"), (12, "Adventure"), (16, "Animation"), (35, "Comedy"), (80, "Crime"),
    (99, "Documentary"), (18, "Drama"), (10751, "Family"), (14, "Fantasy"), (36, "History"),
    (27, "Horror"), (10402, "Music"), (9648, "Mystery"), (10749, "Romance"),
    (878, "Science Fiction"), (53, "Thriller"), (10752, "War"), (37, "Western"),
];

/// (iso_639_1, english_name, native name, home country).
pub(crate) const LANGUAGES: [(&str, &str, &str, &str); 9] = [
    ("en", "English", "English", "US"), ("fr", "French", "Français", "FR"),
    ("es", "Spanish", "Español", "ES"), ("ja", "Japanese", "日本語", "JP"),
    ("ko", "Korean", "한국어/조선말", "KR"), ("de", "German", "Deutsch", "DE"),
    ("it", "Italian", "Italiano", "IT"), ("hi", "Hindi", "हिन्दी", "IN"),
    ("zh", "Mandarin", "普通话", "CN"),
];

pub(crate) const COUNTRIES: [(&str, &str); 11] = [
    ("US", "United States of America"), ("GB", "United Kingdom"), ("FR", "France"), ("ES", "Spain"),
    ("JP", "Japan"), ("KR", "South Korea"), ("DE", "Germany"), ("IT", "Italy"), ("IN", "India"),
    ("CN", "China"), ("CA", "Canada"),
];

/// Fictional studios: (id, name, origin_country). Logo paths derive from the id.
pub(crate) const COMPANIES: [(u64, &str, &str); 20] = [
    (9101, "Silver Lantern Pictures", "US"), (9102, "Northwind Studios", "US"),
    (9103, "Blue Harbor Films", "US"), (9104, "Red Comet Entertainment", "US"),
    (9105, "Paper Moon Productions", "US"), (9106, "Ironbridge Media", "GB"),
    (9107, "Thistle & Crown Films", "GB"), (9108, "Studio Lumière Nord", "FR"),
    (9109, "Films du Quai", "FR"), (9110, "Sakura Gate Pictures", "JP"),
    (9111, "Hanbit Film Company", "KR"), (9112, "Rheinlicht Filmproduktion", "DE"),
    (9113, "Cinecittà Aurora", "IT"), (9114, "Monsoon Talkies", "IN"),
    (9115, "Golden Kite Pictures", "CN"), (9116, "Maple Leaf Features", "CA"),
    (9117, "Sierra Sol Producciones", "ES"), (9118, "Big Sky Pictures", "US"),
    (9119, "Night Owl Features", "US"), (9120, "Lighthouse Animation", "US"),
];

pub(crate) const FEMALE_FIRST: [&str; 24] = [
    "Emma", "Olivia", "Ava", "Sophia", "Isabella", "Mia", "Charlotte", "Amelia", "Harper", "Evelyn",
    "Abigail", "Emily", "Ella", "Scarlett", "Grace", "Chloe", "Camila", "Aria", "Nora", "Lily",
    "Zoe", "Hannah", "Maya", "Ruth",
];

pub(crate) const MALE_FIRST: [&str; 24] = [
    "Liam", "Noah", "Oliver", "Elijah", "James", "William", "Benjamin", "Lucas", "Henry",
    "Alexander", "Mason", "Michael", "Ethan", "Daniel", "Jacob", "Logan", "Jackson", "Samuel",
    "Sebastian", "Owen", "Theo", "Arthur", "Felix", "Hugo",
];

pub(crate) const LAST_NAMES: [&str; 40] = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore",
    "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark",
    "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott",
    "Nakamura", "Kim", "Dubois", "Rossi",
];

pub(crate) const CHARACTER_PREFIXES: [&str; 8] = [
    "", "", "", "Detective ", "Dr. ", "Captain ", "Agent ", "Professor ",
];

/// Crew jobs after the director: (job, department).
pub(crate) const CREW_JOBS: [(&str, &str); 10] = [
    ("Screenplay", "Writing"), ("Producer", "Production"), ("Original Music Composer", "Sound"),
    ("Director of Photography", "Camera"), ("Editor", "Editing"),
    ("Executive Producer", "Production"), ("Casting", "Production"), ("Production Design", "Art"),
    ("Costume Design", "Costume & Make-Up"), ("Novel", "Writing"),
];

pub(crate) const KEYWORDS: [&str; 48] = [
    "based on novel or book", "revenge", "friendship", "dystopia", "heist", "time travel",
    "small town", "murder", "sequel", "superhero", "coming of age", "road trip",
    "artificial intelligence", "haunted house", "new york city", "world war ii",
    "family relationships", "forbidden love", "betrayal", "survival", "conspiracy", "space",
    "alien", "high school", "biography", "police", "serial killer", "kidnapping", "corruption",
    "magic", "dragon", "robot", "zombie", "vampire", "undercover", "prison", "escape", "treasure",
    "pirate", "ocean", "island", "wedding", "musician", "boxing", "christmas", "parallel world",
    "martial arts", "spy",
];

/// Real provider ids and names: (id, name, display_priority).
pub(crate) const SUBSCRIPTION_PROVIDERS: [(u64, &str, u32); 7] = [
    (8, "Netflix", 1), (9, "Amazon Prime Video", 2), (337, "Disney Plus", 3), (15, "Hulu", 5),
    (1899, "Max", 6), (531, "Paramount Plus", 7), (386, "Peacock Premium", 9),
];

pub(crate) const STORE_PROVIDERS: [(u64, &str, u32); 5] = [
    (2, "Apple TV", 4), (3, "Google Play Movies", 8), (10, "Amazon Video", 10),
    (192, "YouTube", 12), (68, "Microsoft Store", 14),
];

pub(crate) const US_CERTIFICATIONS: [&str; 5] = [
    "G", "PG", "PG-13", "R", "NR",
];

pub(crate) const OTHER_CERTIFICATIONS: [(&str, &[&str]); 4] = [
    ("GB", &["U", "PG", "12A", "15", "18"]), ("DE", &["0", "6", "12", "16", "18"]),
    ("FR", &["TP", "12", "16", "18"]), ("JP", &["G", "PG12", "R15+"]),
];
