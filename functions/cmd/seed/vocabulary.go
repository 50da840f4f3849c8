package main

// The generator's vocabulary.
var (
	firstNames = []string{"James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
		"William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Maria", "Wei", "Mei",
		"Hiroshi", "Yuki", "Ahmed", "Fatima", "Olga", "Ivan", "Priya", "Arjun", "Lucas", "Emma", "Noah", "Olivia", "Liam",
		"Sofia", "Mateo", "Camila", "Lukas", "Anna", "Jonas", "Lena", "Kwame", "Amara", "Chen", "Jin", "Sven", "Ingrid",
		"Diego", "Valentina", "Omar", "Leila", "Tomasz", "Zofia", "Kenji", "Aiko", "Raj", "Ananya", "Felix", "Clara"}
	lastNames = []string{"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
		"Hernandez", "Lopez", "Wilson", "Anderson", "Taylor", "Moore", "Martin", "Lee", "Thompson", "White", "Nguyen", "Kim",
		"Wang", "Li", "Zhang", "Tanaka", "Suzuki", "Sato", "Khan", "Patel", "Singh", "Kumar", "Muller", "Schmidt",
		"Schneider", "Fischer", "Dubois", "Moreau", "Rossi", "Ferrari", "Silva", "Santos", "Ivanov", "Petrov", "Kowalski",
		"Nowak", "Jensen", "Hansen", "Larsen", "Okafor", "Mensah", "Haddad", "Cohen", "Murphy", "OBrien", "Walsh"}
	handleWords = []string{"quiet", "lazy", "cosmic", "pixel", "rusty", "night", "stormy", "happy", "little", "dark",
		"code", "retro", "neon", "wild", "silent", "urban"}
	handleNouns = []string{"fox", "owl", "panda", "coder", "hacker", "wolf", "otter", "ninja", "falcon", "tiger",
		"dev", "gecko", "badger", "raven", "koala", "yak"}
	mailDomains = []string{"gmail.com", "gmail.com", "gmail.com", "gmail.com", "outlook.com", "outlook.com", "yahoo.com",
		"hotmail.com", "icloud.com", "proton.me", "fastmail.com", "gmx.de", "web.de", "orange.fr", "yahoo.co.jp",
		"mail.ru", "qq.com", "acme.io", "initech.com", "cs.stanford.edu", "example.org"}
	repos = []struct{ org, name, desc string }{
		{"golang", "go", "The Go programming language"},
		{"kubernetes", "kubernetes", "Production-Grade Container Scheduling and Management"},
		{"jackc", "pgx", "PostgreSQL driver and toolkit for Go"},
		{"valkey-io", "valkey", "A flexible distributed key-value database"},
		{"torvalds", "linux", "Linux kernel source tree"},
		{"rust-lang", "rust", "Empowering everyone to build reliable and efficient software."},
		{"facebook", "react", "The library for web and native user interfaces."},
		{"knative", "serving", "Kubernetes-based, scale-to-zero, request-driven compute"},
		{"prometheus", "prometheus", "The Prometheus monitoring system and time series database."},
		{"python", "cpython", "The Python programming language"},
		{"microsoft", "vscode", "Visual Studio Code"},
		{"neovim", "neovim", "Vim-fork focused on extensibility and usability"},
		{"traefik", "traefik", "The Cloud Native Application Proxy"},
		{"postgres", "postgres", "Mirror of the official PostgreSQL GIT repository."},
		{"ollama", "ollama", "Get up and running with large language models."},
	}
	// The first eight are places, which the map links use.
	wikiTopics = []string{"Eiffel Tower", "Mount Everest", "São Paulo", "Great Barrier Reef", "Kyoto", "Reykjavík",
		"Machu Picchu", "Lake Baikal", "Hash table", "URL shortening", "PostgreSQL", "Alan Turing", "Ada Lovelace",
		"Bloom filter", "Byzantine fault", "Photosynthesis", "Roman Empire", "Jazz", "Quantum entanglement", "Espresso",
		"Tour de France", "Consistent hashing", "Write-ahead logging", "Café racer", "Dijkstra's algorithm"}
	videoTitles = []string{"Rich Hickey - Simple Made Easy", "How Does a Database Index Work?", "Lofi hip hop radio - beats to relax/study to",
		"GopherCon 2024: Building Resilient Services", "I Built a Homelab for $200", "The Art of Code - Dylan Beattie",
		"Sourdough for Beginners (step by step)", "Kubernetes in 100 Seconds", "Why Airplanes Don't Fall Out of the Sky",
		"Full Body Workout - 20 Minutes, No Equipment", "Live at Montreux 1991", "Understanding PostgreSQL MVCC"}
	questions = []string{"How do I check if a map contains a key in Go?", "What is the difference between git merge and git rebase?",
		"How to undo the most recent local commits in Git?", "Why is processing a sorted array faster than processing an unsorted array?",
		"How do I iterate over the words of a string?", "What does the yield keyword do in Python?",
		"How to center a div horizontally and vertically?", "How can I prevent SQL injection in PHP?",
		"What is the difference between a process and a thread?", "How do I reset a PostgreSQL sequence after bulk insert?",
		"Why does my Docker container exit immediately?", "How to read a large file line by line in Java?",
		"What is a NullPointerException, and how do I fix it?", "How do I parse JSON with jq and keep the key order?"}
	headlines = []string{"Scientists Map the Deepest Ocean Trench in Unprecedented Detail", "The Quiet Revolution in Battery Chemistry",
		"City Council Approves New Bike Lanes Downtown", "Why Your Phone Gets Slower Every Year", "Inside the Race to Build a Better Heat Pump",
		"A Record Heat Wave Grips Southern Europe", "What the New Privacy Rules Mean for You", "Open Source Maintainers Are Burning Out",
		"The Return of the Night Train", "How a Small Bakery Took On Supermarket Bread", "Astronomers Spot Water Vapor on a Distant Exoplanet",
		"Central Bank Holds Rates Steady Amid Uncertainty", "The Best Laptops for Students This Year", "Crash Fix for Large Uploads Lands in Beta"}
	sections = []string{"technology", "science", "world", "business", "culture", "travel", "climate", "gadgets"}
	articles = []string{"Scaling Postgres to Millions of Writes per Second", "How We Cut Our Cloud Bill in Half",
		"Lessons from a Year of On-Call", "A Gentle Introduction to CRDTs", "Why We Moved Back to a Monolith",
		"Designing Idempotent APIs", "The Outbox Pattern, Explained", "Zero-Downtime Database Migrations",
		"Debugging a Memory Leak in Production", "Building a Rate Limiter with Redis", "Our Journey to Kubernetes",
		"Structured Logging Done Right", "What Every Programmer Should Know About Time Zones", "Announcing Our Series B"}
	blogs = []string{"https://blog.cloudflare.com/", "https://stripe.com/blog/", "https://engineering.fb.com/2025/03/12/",
		"https://netflixtechblog.com/", "https://martinfowler.com/articles/", "https://go.dev/blog/",
		"https://www.figma.com/blog/", "https://dropbox.tech/infrastructure/", "https://slack.engineering/",
		"https://medium.com/@jordan.lee/", "https://dev.to/ananya_k/", "https://substack.com/home/post/p-"}
	products = []string{"Wireless Noise Cancelling Headphones", "Stainless Steel French Press 1L", "Mechanical Keyboard 75 Percent",
		"Ergonomic Office Chair", "USB C Hub 7 in 1", "Hand Thrown Ceramic Mug", "Merino Wool Hiking Socks",
		"Cast Iron Skillet 12 Inch", "Kindle Paperwhite 16GB", "LEGO Botanical Bonsai Tree", "Linen Duvet Cover Queen"}
	docs = []struct{ link, title string }{
		{"https://docs.python.org/3/library/asyncio-task.html#asyncio.gather", "Coroutines and Tasks — Python 3.13 documentation"},
		{"https://docs.python.org/3/library/csv.html", "csv — CSV File Reading and Writing — Python 3.13 documentation"},
		{"https://developer.mozilla.org/en-US/docs/Web/HTTP/Status/302", "302 Found - HTTP | MDN"},
		{"https://developer.mozilla.org/en-US/docs/Web/CSS/CSS_grid_layout", "CSS grid layout - CSS: Cascading Style Sheets | MDN"},
		{"https://developer.mozilla.org/en-US/docs/Web/API/Fetch_API/Using_Fetch", "Using the Fetch API - Web APIs | MDN"},
		{"https://pkg.go.dev/net/http#ServeMux", "http package - net/http - Go Packages"},
		{"https://pkg.go.dev/github.com/jackc/pgx/v5#Conn.CopyFrom", "pgx package - github.com/jackc/pgx/v5 - Go Packages"},
		{"https://www.postgresql.org/docs/17/sql-copy.html", "PostgreSQL: Documentation: 17: COPY"},
		{"https://www.postgresql.org/docs/current/functions-sequence.html", "PostgreSQL: Documentation: 17: 9.17. Sequence Manipulation Functions"},
		{"https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/", "Pod Lifecycle | Kubernetes"},
		{"https://knative.dev/docs/functions/", "Knative Functions overview - Knative"},
		{"https://valkey.io/commands/client-tracking/", "CLIENT TRACKING | Docs"},
		{"https://learn.microsoft.com/en-us/azure/architecture/patterns/retry", "Retry pattern - Azure Architecture Center | Microsoft Learn"},
	}
	subreddits = []string{"golang", "programming", "selfhosted", "AskHistorians", "Cooking", "europe", "homelab", "running"}
	hotels     = []struct{ country, name string }{
		{"fr", "Hotel Le Marais"}, {"it", "Albergo Roma Centro"}, {"jp", "Kyoto Machiya Inn"}, {"pt", "Lisbon Riverside Suites"},
		{"de", "Hotel Berlin Mitte"}, {"is", "Reykjavik Harbour Guesthouse"},
	}
	userAgents = []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.71 Mobile Safari/537.36",
		"Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
		"Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
		"curl/8.5.0",
	}
	referrers = []string{"https://www.google.com/", "https://www.google.com/", "https://t.co/", "https://www.reddit.com/",
		"https://news.ycombinator.com/", "https://www.facebook.com/", "https://www.linkedin.com/", "https://duckduckgo.com/",
		"https://mail.google.com/", "https://app.slack.com/", "https://outlook.office.com/", "android-app://com.google.android.gm/"}
)
