print("gtn")
